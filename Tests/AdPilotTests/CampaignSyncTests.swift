// Tests of syncing campaign files into adpilot.campaigns: a valid set lands, and any invalid file
// (negative budget, unknown time zone, duplicate id, invalid JSON) aborts the sync with an error
// naming the file and writes nothing.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
final class CampaignSyncTests {
  /// The directories this test wrote, removed when it ends.
  private var roots: [URL] = []

  deinit {
    for root in roots {
      try? FileManager.default.removeItem(at: root)
    }
  }

  static let valid = """
    {"id": "c-1", "name": "First", "dataset": "sync_test", "value_per_click_micros": 500000,
     "daily_budget_micros": 10000000}
    """

  /// Writes `files` (name to JSON text) into a fresh campaigns directory with one set.
  func directory(_ files: [String: String]) throws -> URL {
    let root = FileManager.default.temporaryDirectory
      .appendingPathComponent("adpilot-campaigns-\(UUID().uuidString)")
    roots.append(root)
    let set = root.appendingPathComponent("sync_test")
    try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
    for (name, text) in files {
      try Data(text.utf8).write(to: set.appendingPathComponent(name))
    }
    return root
  }

  func campaignCount(_ connection: Connection) throws -> Int64 {
    try connection.query(
      "SELECT count(*) FROM adpilot.campaigns WHERE dataset = 'sync_test'")[0].int64(0)
  }

  @Test func validSetIsSynced() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_valid")
    defer { connection.close() }
    let portfolio = #"{"dataset": "sync_test", "daily_budget_micros": 7000000}"#
    let report = try syncCampaigns(
      connection,
      directory: try directory(["c-1.json": Self.valid, "portfolio.json": portfolio]))
    #expect(report.campaigns == 1)
    #expect(report.portfolios == 1)
    #expect(try campaignCount(connection) == 1)
    let budget = try connection.query(
      "SELECT daily_budget_micros FROM adpilot.portfolios WHERE dataset = 'sync_test'")
    #expect(try budget[0].int64(0) == 7_000_000)
  }

  @Test func byteOrderMarkIsDropped() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_bom")
    defer { connection.close() }
    let report = try syncCampaigns(
      connection, directory: try directory(["c-1.json": "\u{FEFF}" + Self.valid]))
    #expect(report.campaigns == 1)
    let stored = try connection.query(
      "SELECT definition->>'name' FROM adpilot.campaigns WHERE id = 'c-1'")
    #expect(try stored[0].string(0) == "First")
  }

  @Test(arguments: [
    (
      "negative budget",
      #"{"id": "c-2", "name": "B", "dataset": "sync_test", "value_per_click_micros": 1, "daily_budget_micros": -5}"#,
      "daily_budget_micros"
    ),
    (
      "unknown time zone",
      #"{"id": "c-2", "name": "B", "dataset": "sync_test", "value_per_click_micros": 1, "daily_budget_micros": 5, "time_zone": "Mars/Olympus"}"#,
      "Mars/Olympus"
    ),
    ("invalid JSON", #"{"id": "c-2", "name": "#, "c-2.json"),
    (
      "duplicate id",
      #"{"id": "c-1", "name": "Again", "dataset": "sync_test", "value_per_click_micros": 1, "daily_budget_micros": 5}"#,
      "sync_test/c-1.json"
    ),
  ])
  func invalidFileWritesNothing(label: String, json: String, expected: String) throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_invalid")
    defer { connection.close() }
    _ = try connection.execute("DELETE FROM adpilot.campaigns")
    let before = try campaignCount(connection)
    do {
      _ = try syncCampaigns(
        connection, directory: try directory(["c-1.json": Self.valid, "c-2.json": json]))
      Issue.record("\(label): sync succeeded")
    } catch {
      let message = "\(error)"
      #expect(message.contains("sync_test/c-2.json"), "\(label): \(message)")
      #expect(!message.contains("campaigns/sync_test"), "\(label): \(message)")
      #expect(message.contains(expected), "\(label): \(message)")
    }
    #expect(try campaignCount(connection) == before, "\(label)")
  }
}
