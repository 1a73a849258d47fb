// Tests that two allocations of the same day, run at once on two connections from two threads,
// leave exactly one current plan: the advisory lock of the plan day serializes them.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
struct ConcurrentAllocationTests {
  static let suite = "concurrent_allocation"

  @Test func concurrentAllocationsLeaveOneCurrentPlan() throws {
    let setup = try TestDatabase.connect(suite: Self.suite)
    defer { setup.close() }
    try PlanningFixture.load(setup)

    let rounds = 3
    let results = RunIds()
    for _ in 0..<rounds {
      let group = DispatchGroup()
      for _ in 0..<2 {
        group.enter()
        Thread.detachNewThread {
          defer { group.leave() }
          results.record(
            Result {
              let connection = try TestDatabase.connect(suite: Self.suite)
              defer { connection.close() }
              let pipeline = AllocationPipeline(
                connection: connection, logger: Logger(minimumLevel: .error))
              var options = AllocateOptions(
                dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
              options.historyDays = 3
              return try pipeline.run(options).runId
            })
        }
      }
      group.wait()
    }

    let runIds = try results.all.map { try $0.get() }
    #expect(runIds.count == 2 * rounds)
    #expect(Set(runIds).count == 2 * rounds)
    let runs = try setup.query(
      """
      SELECT status, count(*)
      FROM adpilot.plan_runs
      WHERE dataset = $1 AND plan_date = $2::date AND kind = 'plan'
      GROUP BY status
      ORDER BY status
      """, [.text(PlanningFixture.dataset), .date(PlanningFixture.planDate)])
    let counts = Dictionary(
      uniqueKeysWithValues: try runs.map { (try $0.string(0), try $0.int64(1)) })
    #expect(counts["current"] == 1)
    #expect(counts["superseded"] == Int64(2 * rounds - 1))
    let orphans = try setup.query(
      """
      SELECT count(*)
      FROM adpilot.allocations AS a
      WHERE NOT EXISTS (SELECT 1 FROM adpilot.plan_runs AS r WHERE r.id = a.run_id)
      """)
    #expect(try orphans[0].int64(0) == 0)
  }
}

/// The run ids or errors of concurrent allocations, collected under a lock.
private final class RunIds: @unchecked Sendable {
  private let lock = NSLock()
  private var results: [Result<String, any Error>] = []

  func record(_ result: Result<String, any Error>) {
    lock.lock()
    defer { lock.unlock() }
    results.append(result)
  }

  var all: [Result<String, any Error>] {
    lock.lock()
    defer { lock.unlock() }
    return results
  }
}
