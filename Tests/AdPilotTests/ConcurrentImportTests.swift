// Tests that writers replacing the same data set run one after the other. A second import, or a
// synthetic generation, waits while an open transaction has the data set's advisory lock. Once
// that commits, the import replaces the committed rows instead of adding to them.

import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@testable import AdPilot

@Suite struct ConcurrentImportTests {
  @Test func secondImportWaitsAndReplacesFirst() throws {
    let suite = "ingest.concurrent"
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    let file = TestData.fixture("criteo_dac_sample.txt")
    let writer = BackgroundWriter()
    // A committed load beforehand, so both imports below find rows to delete.
    _ = try CriteoImporter.importFile(connection, file: file, dataset: "shared")

    try connection.transaction {
      // This import runs inside an open transaction, so its lock lasts until the commit.
      let first = try CriteoImporter.importFile(connection, file: file, dataset: "shared")
      #expect(first.loaded == 3)
      #expect(first.replaced == 3)
      writer.start(suite: suite) { other in
        try CriteoImporter.importFile(other, file: file, dataset: "shared").description
      }
      let awaited = try writer.awaitedLock(observer: connection)
      #expect(awaited?.type == "advisory")
      #expect(awaited?.key == datasetLockKey("shared"))
    }

    let second = try writer.result()
    #expect(
      second == file.path
        + ": dataset shared, loaded 3 rows (2 clicks), rejected 1 (missing label), "
        + "rejected 1 (non-numeric number in I13), rejected 1 (wrong column count); "
        + "replaced the 3 rows loaded before")
    let rows = try connection.query(
      """
      SELECT count(*), count(DISTINCT request_id)
      FROM adpilot.impressions
      WHERE dataset = 'shared'
      """)
    #expect(try rows[0].int64(0) == 3)
    #expect(try rows[0].int64(1) == 3)
    let rejected = try connection.query(
      "SELECT count(*) FROM adpilot.rejected_rows WHERE dataset = 'shared'")
    #expect(try rejected[0].int64(0) == 3)
  }

  @Test func generatorWaitsForDatasetLock() throws {
    let suite = "ingest.concurrentGenerate"
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    let config = SyntheticConfig(
      users: 50, ads: 12, days: 1, impressionsPerDay: 200, maxSequenceLength: 4, requests: 5,
      candidatesPerRequest: 2)
    let writer = BackgroundWriter()

    try connection.transaction {
      try lockDataset(connection, name: SyntheticGenerator.dataset)
      writer.start(suite: suite) { other in
        "\(try SyntheticGenerator(config).generate(into: other).impressions)"
      }
      let awaited = try writer.awaitedLock(observer: connection)
      #expect(awaited?.type == "advisory")
      #expect(awaited?.key == datasetLockKey(SyntheticGenerator.dataset))
    }

    let impressions = try Int64(#require(Int(try writer.result())))
    #expect(impressions > 0)
    let rows = try connection.query(
      "SELECT count(*) FROM adpilot.impressions WHERE dataset = $1",
      [.text(SyntheticGenerator.dataset)])
    #expect(try rows[0].int64(0) == impressions)
  }
}

/// A write run on its own thread and connection, with the backend id of that connection, so a
/// test can see which lock the write waits for.
private final class BackgroundWriter: Sendable {
  private let backend = Mutex<Int64?>(nil)
  private let outcome = Mutex<Result<String, PipelineError>?>(nil)
  private let started = DispatchSemaphore(value: 0)
  private let finished = DispatchSemaphore(value: 0)

  /// Opens a connection to the suite's database on a new thread and runs `write` on it.
  func start(suite: String, _ write: @escaping @Sendable (Connection) throws -> String) {
    Thread.detachNewThread { [self] in
      defer { finished.signal() }
      var signaled = false
      let result: Result<String, PipelineError>
      do {
        let connection = try TestDatabase.connect(suite: suite)
        defer { connection.close() }
        let pid = try connection.query("SELECT pg_backend_pid()")[0].int64(0)
        backend.withLock { $0 = pid }
        started.signal()
        signaled = true
        result = .success(try write(connection))
      } catch {
        result = .failure(PipelineError("\(error)"))
      }
      if !signaled { started.signal() }
      outcome.withLock { $0 = result }
    }
    started.wait()
  }

  /// Returns the type and key of the lock the write waits for, read from `pg_locks` through
  /// `observer`. Returns nil when the write finishes, or has not waited within 30 seconds.
  /// For an advisory lock on a 64-bit key, pg_locks stores the key's high 32 bits in classid
  /// and its low 32 bits in objid.
  func awaitedLock(observer: Connection) throws -> (type: String, key: Int64?)? {
    guard let pid = backend.withLock({ $0 }) else { return nil }
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline, outcome.withLock({ $0 == nil }) {
      let waiting = try observer.query(
        """
        SELECT locktype, (classid::int8 << 32) | objid::int8
        FROM pg_locks
        WHERE pid = $1 AND NOT granted
        """, [.int64(pid)])
      if let lock = waiting.first {
        return (try lock.string(0), try lock.optionalInt64(1))
      }
      Thread.sleep(forTimeInterval: 0.01)
    }
    return nil
  }

  /// Waits for the write to end and returns its output, or throws its error.
  func result() throws -> String {
    finished.wait()
    guard let result = outcome.withLock({ $0 }) else {
      throw PipelineError("the background write ended without a result")
    }
    return try result.get()
  }
}
