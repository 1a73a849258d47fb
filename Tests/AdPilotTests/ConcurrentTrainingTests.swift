// Tests that training which overlaps a generation of its data set registers its models but
// leaves the champion alias alone. The generation runs in the hook after the training rows are
// cached, so the run trains and validates on rows that the data set no longer has. A training
// whose connection the server closed after the rows were cached still registers its models.

import CTR
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@testable import AdPilot
@testable import adpilot

@Suite struct ConcurrentTrainingTests {
  static let logger = Logger(minimumLevel: .error)

  static func config(maxSequenceLength: Int, seed: UInt64) -> SyntheticConfig {
    SyntheticConfig(
      users: 400, ads: 40, days: 3, impressionsPerDay: 2_000,
      maxSequenceLength: maxSequenceLength, seed: seed, requests: 5, candidatesPerRequest: 2)
  }

  static func options() -> TrainOptions {
    var options = TrainOptions(dataset: "synthetic")
    options.maxEpochs = 1
    options.batchSize = 256
    options.threads = 1
    return options
  }

  /// Registers an untrained attention model of the data set's spec as the champion of
  /// `synthetic`. Its predictions start near 0.5, so any trained challenger beats its log loss.
  static func registerUntrainedChampion(_ connection: Connection) throws -> ModelRecord {
    let spec = try loadDataset(connection, name: "synthetic").spec
    let model = try AttentionModel(spec: spec, config: TrainingConfig(), seed: 5)
    return try connection.transaction {
      try connection.advisoryXactLock(Connection.advisoryKey("adpilot.model:synthetic"))
      let registry = ModelRegistry(connection: connection)
      let record = try registry.register(
        model, name: "synthetic", metrics: [:], hyperparameters: ["trained": "false"],
        validationLogLoss: 0.69, trainWindow: nil)
      try registry.setAlias("champion", of: "synthetic", to: record.id, reason: "test champion")
      return record
    }
  }

  @Test func generateOfOtherSpecKeepsChampion() throws {
    let suite = "training.concurrentGenerate"
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    try SyntheticGenerator(Self.config(maxSequenceLength: 8, seed: 11)).generate(into: connection)
    let champion = try Self.registerUntrainedChampion(connection)

    let other = try TestDatabase.connect(suite: suite)
    defer { other.close() }
    var pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    pipeline.afterTrainingRowsCached = {
      try SyntheticGenerator(Self.config(maxSequenceLength: 12, seed: 3)).generate(into: other)
    }
    let outcome = try pipeline.run(Self.options())

    let registry = ModelRegistry(connection: connection)
    #expect(outcome.champion?.id == champion.id)
    #expect(try registry.alias("champion", of: "synthetic") == champion.id)
    #expect(try registry.history(of: "synthetic").count == 1)
    #expect(outcome.previousChampion?.record.id == champion.id)
    // Both models are registered, with the metrics of the rows they were validated on.
    #expect(try registry.record(id: outcome.attention.record.id) == outcome.attention.record)
    #expect(try registry.record(id: outcome.logistic.record.id) == outcome.logistic.record)
    #expect(try registry.list(name: "synthetic").count == 3)

    let reason = "kept: data set 'synthetic' changed after training read its rows"
    #expect(outcome.championReason == reason)
    let note =
      "note: an import or `adpilot generate` replaced the rows of data set 'synthetic' and "
      + "changed its feature spec (maximum sequence length 8 in the trained models but 12 in "
      + "the data set now) after training read its rows. The models above are registered, but "
      + "they do not describe the data set's current rows, so the champion alias was not "
      + "moved; train again with `adpilot train --dataset synthetic`"
    #expect(outcome.datasetChangeNote == note)

    let context = Context(environment: [:], logger: Self.logger, echo: false)
    printTrainOutcome(outcome, context)
    let lines = context.output.split(separator: "\n").map(String.init)
    #expect(lines.contains("champion: \(champion.id) (\(reason))"))
    #expect(lines.contains(note))
  }

  @Test func registrationWaitsForOpenGenerate() throws {
    let suite = "training.openGenerate"
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    try SyntheticGenerator(Self.config(maxSequenceLength: 8, seed: 11)).generate(into: connection)
    let trainingBackend = try connection.query("SELECT pg_backend_pid()")[0].int64(0)

    // The generation writes rows of the same spec and keeps its transaction open until the
    // training connection waits for the data set's lock, then commits.
    let generation = OpenGeneration()
    var pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    pipeline.afterTrainingRowsCached = {
      generation.start(
        suite: suite, config: Self.config(maxSequenceLength: 8, seed: 4),
        waiter: trainingBackend)
    }
    let outcome = try pipeline.run(Self.options())
    let sawTrainingWait = try generation.result()

    #expect(sawTrainingWait)
    let registry = ModelRegistry(connection: connection)
    #expect(outcome.champion == nil)
    #expect(try registry.alias("champion", of: "synthetic") == nil)
    #expect(try registry.history(of: "synthetic").isEmpty)
    #expect(try registry.list(name: "synthetic").count == 2)
    #expect(
      outcome.championReason == "not moved: data set 'synthetic' changed after training "
        + "read its rows")
    #expect(
      outcome.datasetChangeNote
        == "note: an import or `adpilot generate` replaced the rows of data set 'synthetic' "
        + "after training read its rows. The models above are registered, but they do not "
        + "describe the data set's current rows, so the champion alias was not moved; train "
        + "again with `adpilot train --dataset synthetic`")

    let context = Context(environment: [:], logger: Self.logger, echo: false)
    printTrainOutcome(outcome, context)
    let lines = context.output.split(separator: "\n").map(String.init)
    #expect(lines.contains("champion: none (\(outcome.championReason))"))
  }
}

extension ConcurrentTrainingTests {
  @Test func trainingRegistersAfterLostConnection() throws {
    let suite = "training.lostConnection"
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    try SyntheticGenerator(Self.config(maxSequenceLength: 8, seed: 11)).generate(into: connection)
    let trainingBackend = try connection.query("SELECT pg_backend_pid()")[0].int64(0)

    // A server restart while the models train ends the backend the same way.
    let observer = try TestDatabase.connect(suite: suite)
    defer { observer.close() }
    var pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    pipeline.beforeRegistering = {
      _ = try observer.query(
        "SELECT pg_terminate_backend($1::int, 30000)", [.int64(trainingBackend)])
    }
    let outcome = try pipeline.run(Self.options())

    let newBackend = try connection.query("SELECT pg_backend_pid()")[0].int64(0)
    #expect(newBackend != trainingBackend)
    let registry = ModelRegistry(connection: connection)
    #expect(try registry.list(name: "synthetic").count == 2)
    let champion = try #require(outcome.champion)
    #expect(try registry.alias("champion", of: "synthetic") == champion.id)
  }
}

/// A synthetic generation on its own thread and connection whose transaction stays open until
/// a given backend waits for the data set's advisory lock, or 30 seconds pass.
private final class OpenGeneration: Sendable {
  private let outcome = Mutex<Result<Bool, PipelineError>?>(nil)
  private let generated = DispatchSemaphore(value: 0)
  private let finished = DispatchSemaphore(value: 0)

  /// Starts the generation and returns once its rows are written but not committed.
  func start(suite: String, config: SyntheticConfig, waiter: Int64) {
    Thread.detachNewThread { [self] in
      defer { finished.signal() }
      var signaled = false
      let result: Result<Bool, PipelineError>
      do {
        let connection = try TestDatabase.connect(suite: suite)
        defer { connection.close() }
        let observer = try TestDatabase.connect(suite: suite)
        defer { observer.close() }
        result = .success(
          try connection.transaction {
            try SyntheticGenerator(config).generate(into: connection)
            generated.signal()
            signaled = true
            return try Self.awaitLockWait(observer: observer, backend: waiter)
          })
      } catch {
        result = .failure(PipelineError("\(error)"))
      }
      if !signaled { generated.signal() }
      outcome.withLock { $0 = result }
    }
    generated.wait()
  }

  /// Returns whether `backend` waited for the synthetic data set's advisory lock within 30
  /// seconds. For a 64-bit advisory key, pg_locks stores the high 32 bits in classid and the
  /// low 32 bits in objid.
  private static func awaitLockWait(observer: Connection, backend: Int64) throws -> Bool {
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      let waiting = try observer.query(
        """
        SELECT 1
        FROM pg_locks
        WHERE pid = $1 AND NOT granted AND locktype = 'advisory'
          AND ((classid::int8 << 32) | objid::int8) = $2
        """, [.int64(backend), .int64(datasetLockKey(SyntheticGenerator.dataset))])
      if !waiting.isEmpty { return true }
      Thread.sleep(forTimeInterval: 0.01)
    }
    return false
  }

  /// Waits for the generation to commit and returns whether the backend waited for the lock.
  func result() throws -> Bool {
    finished.wait()
    guard let result = outcome.withLock({ $0 }) else {
      throw PipelineError("the generation ended without a result")
    }
    return try result.get()
  }
}
