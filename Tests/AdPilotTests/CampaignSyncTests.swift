// Tests of syncing campaign files into adpilot.campaigns: a valid set lands, and an invalid file
// aborts the sync with an error naming the file and writes nothing. Invalid files include text
// PostgreSQL cannot store, a folder named for another data set and an id of another data set.
// Also tests of reading the directory and of the `campaigns` command's arguments and output.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot
@testable import Allocation
@testable import adpilot

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
    try directory(folders: ["sync_test": files.mapValues { Data($0.utf8) }])
  }

  /// Writes `folders` (folder name to file name to bytes) into a fresh campaigns directory.
  func directory(folders: [String: [String: Data]]) throws -> URL {
    let root = FileManager.default.temporaryDirectory
      .appendingPathComponent("adpilot-campaigns-\(UUID().uuidString)")
    roots.append(root)
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    for (folder, files) in folders {
      let set = root.appendingPathComponent(folder)
      try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
      for (name, data) in files {
        try data.write(to: set.appendingPathComponent(name))
      }
    }
    return root
  }

  /// Returns a valid campaign file of `dataset`.
  static func campaign(_ id: String, dataset: String = "sync_test") -> Data {
    Data(
      """
      {"id": "\(id)", "name": "Campaign \(id)", "dataset": "\(dataset)",
       "value_per_click_micros": 500000, "daily_budget_micros": 10000000}
      """.utf8)
  }

  /// Returns a portfolio file of `dataset`.
  static func portfolio(_ dataset: String) -> Data {
    Data(#"{"dataset": "\#(dataset)", "daily_budget_micros": 7000000}"#.utf8)
  }

  /// Returns each stored campaign id with its data set, sorted by id.
  func storedCampaigns(_ connection: Connection) throws -> [String] {
    try connection.query("SELECT id || ':' || dataset FROM adpilot.campaigns ORDER BY id").map {
      try $0.string(0)
    }
  }

  /// Runs `body`, which must throw a CampaignFileError, and returns that error.
  func campaignFileError(_ body: () throws -> Void) throws -> CampaignFileError {
    do {
      try body()
    } catch let error as CampaignFileError {
      return error
    }
    throw PipelineError("expected a CampaignFileError, but the call succeeded")
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
      "id of another file",
      #"{"id": "c-1", "name": "Again", "dataset": "sync_test", "value_per_click_micros": 1, "daily_budget_micros": 5}"#,
      "must equal the file's name without .json ('c-2')"
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

// -------------------------------------------------------------------------------------------------
// Files that PostgreSQL cannot store are rejected while validating, never by the database.

extension CampaignSyncTests {
  static let unstorable: [(String, Data, String)] = [
    (
      "trailing comma",
      Data(
        #"{"id":"c-2","name":"n","dataset":"sync_test","value_per_click_micros":1,"daily_budget_micros":1,}"#
          .utf8),
      "invalid JSON at line 1, column 96 (trailing comma before '}')"
    ),
    (
      "NUL escape",
      Data(
        #"{"id":"c-2","name":"n\u0000","dataset":"sync_test","value_per_click_micros":1,"daily_budget_micros":1}"#
          .utf8),
      "contains the character U+0000, which PostgreSQL text cannot store"
    ),
    (
      "UTF-16",
      String(decoding: campaign("c-2"), as: UTF8.self).data(using: .utf16) ?? Data(),
      "is encoded as UTF-16LE, not UTF-8"
    ),
    (
      "binary",
      Data((0...255).map { UInt8($0) }),
      "is not valid UTF-8 text, first invalid byte 0x80 at byte offset 128 (line 2, column 118)"
    ),
    (
      "long id",
      campaign(String(repeating: "x", count: 9000)),
      "must be at most 63 characters"
    ),
    (
      "priority beyond 32 bits",
      Data(
        #"{"id":"c-2","name":"n","dataset":"sync_test","value_per_click_micros":1,"daily_budget_micros":1,"priority":9223372036854775807}"#
          .utf8),
      "must be in -2147483648...2147483647"
    ),
  ]

  @Test(arguments: unstorable)
  func unstorableFileIsRejected(label: String, data: Data, message: String) throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_unstorable")
    defer { connection.close() }
    let root = try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]])
    _ = try syncCampaigns(connection, directory: root)
    try data.write(to: root.appendingPathComponent("sync_test/c-2.json"))
    let error = try campaignFileError { _ = try syncCampaigns(connection, directory: root) }
    #expect(error.file == root.path + "/sync_test/c-2.json", "\(label)")
    #expect(error.message == message, "\(label)")
    #expect(try storedCampaigns(connection) == ["c-1:sync_test"], "\(label)")
  }

  @Test func storedDefinitionIsCompactJSON() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_definition")
    defer { connection.close() }
    let text =
      "\u{FEFF}{\n  \"id\": \"c-1\", \"name\": \"caf\\u00e9 \\\"x\\\" \\t \\/\",\n"
      + "  \"dataset\": \"sync_test\", \"value_per_click_micros\": 500000,\n"
      + "  \"daily_budget_micros\": 10000000, \"day_parting\": {\"mon\": [ 9 ]}\n}\n"
    _ = try syncCampaigns(connection, directory: try directory(["c-1.json": text]))
    let rows = try connection.query(
      """
      SELECT definition::text, name, definition->>'name'
      FROM adpilot.campaigns
      WHERE id = 'c-1'
      """)
    #expect(
      try rows[0].string(0)
        == #"{"id": "c-1", "name": "café \"x\" \t /", "dataset": "sync_test", "#
        + #""day_parting": {"mon": [9]}, "daily_budget_micros": 10000000, "#
        + #""value_per_click_micros": 500000}"#)
    #expect(try rows[0].string(1) == "café \"x\" \t /")
    #expect(try rows[0].string(2) == "café \"x\" \t /")
    // The planning job parses the stored definitions again.
    let loaded = try loadCampaigns(connection, dataset: "sync_test")
    #expect(loaded.map(\.name) == ["café \"x\" \t /"])
    #expect(loaded.first?.dayParting == [1: [9]])
  }

  @Test func scheduleColumnsFollowTheFile() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_columns")
    defer { connection.close() }
    let text = """
      {"id": "c-2", "name": "n", "dataset": "sync_test", "value_per_click_micros": 500000,
       "daily_budget_micros": 10000000, "day_parting": {"mon": [9, 10], "sun": [23]},
       "flight_start": "2026-01-05", "flight_end": "2026-02-01",
       "targeting": {"region": ["1", "2"]}}
      """
    _ = try syncCampaigns(connection, directory: try directory(["c-2.json": text]))
    let row = try connection.query(
      """
      SELECT day_parting::text, flight_start::text, flight_end::text, targeting::text, time_zone
      FROM adpilot.campaigns WHERE id = 'c-2'
      """)[0]
    #expect(try row.string(0) == "{9,10,167}")
    #expect(try row.string(4) == "UTC")
    #expect(try row.string(1) == "2026-01-05")
    #expect(try row.string(2) == "2026-02-01")
    #expect(try row.string(3) == #"{"region": ["1", "2"]}"#)

    let plain = """
      {"id": "c-2", "name": "n", "dataset": "sync_test", "value_per_click_micros": 500000,
       "daily_budget_micros": 10000000}
      """
    _ = try syncCampaigns(connection, directory: try directory(["c-2.json": plain]))
    let cleared = try connection.query(
      """
      SELECT day_parting IS NULL, flight_start IS NULL, flight_end IS NULL, targeting::text
      FROM adpilot.campaigns WHERE id = 'c-2'
      """)[0]
    #expect(try cleared.bool(0))
    #expect(try cleared.bool(1))
    #expect(try cleared.bool(2))
    #expect(try cleared.string(3) == "{}")
  }
}

// -------------------------------------------------------------------------------------------------
// Folders and data sets: a folder's files belong to the data set it is named for, and an id
// moves to another data set only when both folders sync together.

extension CampaignSyncTests {
  @Test func portfolioInOtherFolderIsRejected() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_portfolio_folder")
    defer { connection.close() }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]]))
    let root = try directory(folders: ["qq": ["portfolio.json": Self.portfolio("sync_test")]])
    let error = try campaignFileError { _ = try syncCampaigns(connection, directory: root) }
    #expect(
      error.description
        == "\(root.path)/qq/portfolio.json: field 'dataset' must equal the name of its folder "
        + "'qq', got \"sync_test\"; move the file to \(root.path)/sync_test/, or set dataset to "
        + "\"qq\"")
    #expect(try storedCampaigns(connection) == ["c-1:sync_test"])
  }

  @Test func campaignInOtherFolderIsRejected() throws {
    let root = try directory(folders: [
      "sync_test": ["portfolio.json": Self.portfolio("sync_test")],
      "other_set": ["o-1.json": Self.campaign("o-1", dataset: "sync_test")],
    ])
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(error.file == root.path + "/other_set/o-1.json")
    #expect(error.field == "dataset")
    #expect(error.message == "must equal the name of its folder 'other_set'")
  }

  @Test(arguments: ["bad name", "synthetic"])
  func folderWithInvalidNameIsRejected(dataset: String) throws {
    // Whatever dataset the file gives, the folder has to be renamed first.
    let root = try directory(folders: [
      "bad name": ["c-1.json": Self.campaign("c-1", dataset: dataset)]
    ])
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(
      error.description
        == "\(root.path)/bad name: is not a valid data set name, which must be 1 to 63 letters, "
        + "digits, '_', '.' and '-', starting with a letter or digit; rename the folder, and set "
        + "dataset in its files to the new name")
  }

  @Test func folderWithInvalidNameWithoutJSONIsSkipped() throws {
    let root = try directory(folders: [
      "sync_test": ["c-1.json": Self.campaign("c-1")],
      "bad name": ["README.md": Data("notes".utf8)],
    ])
    let found = try readCampaignDirectory(root)
    #expect(found.datasets == ["sync_test"])
  }

  @Test func fileNamedForOtherIdIsRejected() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_file_name")
    defer { connection.close() }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]]))
    let root = try directory(folders: [
      "sync_test": ["c-1.json": Self.campaign("c-1"), "other-name.json": Self.campaign("c-2")]
    ])
    let error = try campaignFileError { _ = try syncCampaigns(connection, directory: root) }
    #expect(
      error.description
        == "\(root.path)/sync_test/other-name.json: field 'id' must equal the file's name without "
        + ".json ('other-name'), got \"c-2\"; rename the file to c-2.json, or set id to "
        + "\"other-name\"")
    #expect(try storedCampaigns(connection) == ["c-1:sync_test"])
  }

  @Test func fileNameOutsideIdRuleIsRejected() throws {
    let root = try directory(folders: ["sync_test": ["c 2.json": Self.campaign("c-2")]])
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(
      error.description
        == "\(root.path)/sync_test/c 2.json: field 'id' must equal the file's name without .json "
        + "('c 2'), got \"c-2\"; rename the file to c-2.json")
  }

  @Test func duplicateIdAcrossFoldersIsRejected() throws {
    let root = try directory(folders: [
      "sync_test": ["c-1.json": Self.campaign("c-1")],
      "other_set": ["c-1.json": Self.campaign("c-1", dataset: "other_set")],
    ])
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(
      error.description
        == "\(root.path)/sync_test/c-1.json: field 'id' duplicates the id of "
        + "\(root.path)/other_set/c-1.json, got \"c-1\"; give each campaign a unique id, or "
        + "remove one of the two files")
  }

  @Test func idOfOtherDatasetIsRejected() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_id_owner")
    defer { connection.close() }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]]))
    let root = try directory(folders: [
      "other_set": ["c-1.json": Self.campaign("c-1", dataset: "other_set")]
    ])
    let error = try campaignFileError { _ = try syncCampaigns(connection, directory: root) }
    #expect(
      error.description
        == "\(root.path)/other_set/c-1.json: field 'id' belongs to data set 'sync_test' in the "
        + "database, not 'other_set', got \"c-1\"; choose another id, or move the campaign by "
        + "syncing a folder \(root.path)/sync_test/ without it in the same run")
    #expect(try storedCampaigns(connection) == ["c-1:sync_test"])
  }

  @Test func idMovesWhenBothFoldersSync() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_id_move")
    defer { connection.close() }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        "sync_test": ["c-1.json": Self.campaign("c-1"), "c-2.json": Self.campaign("c-2")]
      ]))
    let report = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        "sync_test": ["c-2.json": Self.campaign("c-2")],
        "other_set": ["c-1.json": Self.campaign("c-1", dataset: "other_set")],
      ]))
    #expect(report.removed == 0)
    #expect(report.datasets == ["other_set", "sync_test"])
    #expect(try storedCampaigns(connection) == ["c-1:other_set", "c-2:sync_test"])
    let definition = try connection.query(
      "SELECT definition->>'dataset' FROM adpilot.campaigns WHERE id = 'c-1'")
    #expect(try definition[0].string(0) == "other_set")
  }

  @Test func datasetWithoutFolderIsKept() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_datasetsWithoutFolder")
    defer { connection.close() }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        "sync_test": [
          "c-1.json": Self.campaign("c-1"), "c-2.json": Self.campaign("c-2"),
          "portfolio.json": Self.portfolio("sync_test"),
        ],
        "budget_only": ["portfolio.json": Self.portfolio("budget_only")],
      ]))
    let report = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        "other_set": ["o-1.json": Self.campaign("o-1", dataset: "other_set")]
      ]))
    #expect(report.removed == 0)
    #expect(report.datasetsWithoutFolder.map(\.dataset) == ["budget_only", "sync_test"])
    #expect(report.datasetsWithoutFolder.map(\.campaigns) == [0, 2])
    #expect(try storedCampaigns(connection) == ["c-1:sync_test", "c-2:sync_test", "o-1:other_set"])
  }

  @Test func folderWithoutPortfolioRemovesPortfolio() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_portfolio_removed")
    defer { connection.close() }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        "sync_test": [
          "c-1.json": Self.campaign("c-1"), "portfolio.json": Self.portfolio("sync_test"),
        ],
        "other_set": [
          "o-1.json": Self.campaign("o-1", dataset: "other_set"),
          "portfolio.json": Self.portfolio("other_set"),
        ],
        "budget_only": ["portfolio.json": Self.portfolio("budget_only")],
      ]))
    let report = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        "sync_test": ["c-1.json": Self.campaign("c-1")],
        "other_set": [
          "o-1.json": Self.campaign("o-1", dataset: "other_set"),
          "portfolio.json": Self.portfolio("other_set"),
        ],
      ]))
    #expect(report.portfolios == 1)
    #expect(report.removedPortfolios == 1)
    #expect(report.removed == 0)
    #expect(report.datasetsWithoutPortfolio == ["sync_test"])
    // A data set without a folder keeps its portfolio, as it keeps its campaigns.
    let stored = try connection.query(
      "SELECT dataset FROM adpilot.portfolios ORDER BY dataset"
    ).map { try $0.string(0) }
    #expect(stored == ["budget_only", "other_set"])
    #expect(try storedCampaigns(connection) == ["c-1:sync_test", "o-1:other_set"])
  }

  @Test func failedSyncKeepsPortfolio() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_portfolio_kept")
    defer { connection.close() }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        "sync_test": [
          "c-1.json": Self.campaign("c-1"), "portfolio.json": Self.portfolio("sync_test"),
        ]
      ]))
    let root = try directory(folders: [
      "sync_test": ["c-1.json": Self.campaign("c-1"), "c-2.json": Data("{".utf8)]
    ])
    #expect(throws: CampaignFileError.self) { try syncCampaigns(connection, directory: root) }
    let budget = try connection.query(
      "SELECT daily_budget_micros FROM adpilot.portfolios WHERE dataset = 'sync_test'")
    #expect(budget.count == 1)
    #expect(try budget.first?.int64(0) == 7_000_000)
  }

  @Test func removedPortfolioNeedsBudgetToPlan() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_portfolio_plan")
    defer { connection.close() }
    try PlanningFixture.load(connection)
    let withoutPortfolio = PlanningFixture.campaigns.filter { $0.key != "portfolio.json" }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        PlanningFixture.dataset: withoutPortfolio.mapValues { Data($0.utf8) }
      ]))
    let pipeline = AllocationPipeline(connection: connection, logger: Logger(minimumLevel: .error))
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    do {
      _ = try pipeline.run(options)
      Issue.record("planned with the removed portfolio's budget")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "data set 'plan_fixture' has no portfolio budget; add portfolio.json to its "
          + "campaigns folder (campaigns/plan_fixture/, or DIR/plan_fixture/ when you sync with "
          + "--dir DIR) and run `adpilot campaigns sync`, or pass --budget MICROS")
    }
    options.budgetMicros = 12_000_000
    let outcome = try pipeline.run(options)
    #expect(outcome.result.totalBudgetMicros == 12_000_000)
  }

  @Test func folderWithOnlyPortfolioRemovesCampaigns() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_portfolio_only")
    defer { connection.close() }
    _ = try syncCampaigns(
      connection,
      directory: try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]]))
    let report = try syncCampaigns(
      connection,
      directory: try directory(folders: [
        "sync_test": ["portfolio.json": Self.portfolio("sync_test")]
      ]))
    #expect(report.removed == 1)
    #expect(report.datasetsWithoutFolder.isEmpty)
    #expect(try storedCampaigns(connection) == [])
  }
}

// -------------------------------------------------------------------------------------------------
// Reading the directory: hidden entries, names and file types.

extension CampaignSyncTests {
  @Test func hiddenEntriesAreSkipped() throws {
    let broken = Data("{".utf8)
    let root = try directory(folders: [
      "sync_test": [
        "c-1.json": Self.campaign("c-1"), ".#c-1.json": broken, "notes.txt": broken,
      ],
      ".cache": ["x.json": broken],
    ])
    try broken.write(to: root.appendingPathComponent(".x.json"))
    try broken.write(to: root.appendingPathComponent("README.md"))
    let found = try readCampaignDirectory(root)
    #expect(found.campaignCount == 1)
    #expect(found.datasets == ["sync_test"])
  }

  @Test func upperCaseExtensionIsRejected() throws {
    let root = try directory(folders: ["sync_test": ["c-1.JSON": Self.campaign("c-1")]])
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(
      error.description
        == "\(root.path)/sync_test/c-1.JSON: must end in lowercase .json; rename it to c-1.json")
  }

  @Test func folderNamedJSONIsRejected() throws {
    let root = try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]])
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("sync_test/c-2.json"), withIntermediateDirectories: false)
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(
      error.description
        == "\(root.path)/sync_test/c-2.json: is a folder, not a file; rename it so that its name "
        + "does not end in .json, or move it out of the folder")
  }

  @Test func danglingLinkIsRejected() throws {
    let root = try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]])
    try FileManager.default.createSymbolicLink(
      atPath: root.appendingPathComponent("sync_test/c-2.json").path,
      withDestinationPath: "/nonexistent/c-2.json")
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(
      error.description
        == "\(root.path)/sync_test/c-2.json: is a symbolic link to /nonexistent/c-2.json, which "
        + "leads to no file (missing, or a loop of links); point the link at a campaign file, or "
        + "remove it")
  }

  @Test func fifoIsRejected() throws {
    let root = try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]])
    let path = root.appendingPathComponent("sync_test/c-2.json").path
    #expect(mkfifo(path, 0o644) == 0)
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(
      error.description
        == "\(root.path)/sync_test/c-2.json: is not a regular file but a FIFO or another special "
        + "file; replace it with a campaign file, or remove it")
  }

  @Test func dataSetFolderAsDirIsRejected() throws {
    let root = try directory(folders: [:])
    try Self.campaign("c-1").write(to: root.appendingPathComponent("c-1.json"))
    let error = try campaignFileError { _ = try readCampaignDirectory(root) }
    #expect(
      error.description
        == "\(root.path)/c-1.json: is not in a data-set folder; move it to "
        + "\(root.path)/<data set>/c-1.json, or if \(root.path) is one data set's folder, pass "
        + "its parent folder as --dir")
  }

  @Test func directoryWithoutFilesIsRejected() throws {
    let root = try directory(folders: ["empty_set": [:], "docs": ["README.md": Data()]])
    do {
      _ = try readCampaignDirectory(root)
      Issue.record("accepted a directory without campaign files")
    } catch {
      #expect(
        "\(error)"
          == "no campaign files in \(root.path): expected one folder per data set, such as "
          + "\(root.path)/synthetic/ with portfolio.json and <campaign id>.json files")
    }
  }

  @Test func missingDirectoryIsRejected() throws {
    let root = try directory(folders: [:])
    let missing = root.appendingPathComponent("missing")
    #expect(throws: PipelineError.self) { try readCampaignDirectory(missing) }
    do {
      _ = try readCampaignDirectory(missing)
    } catch {
      #expect(
        "\(error)" == "campaign directory \(missing.path) does not exist; create it or pass --dir")
    }
  }
}

// -------------------------------------------------------------------------------------------------
// The `campaigns` command: its action is required, and --dir must name a folder.

extension CampaignSyncTests {
  /// A database that cannot be reached, so that a command which should not connect fails fast.
  static let unreachable = ["DATABASE_URL": "postgresql:///none?host=/nonexistent"]

  /// Runs `adpilot campaigns` with `arguments` and returns its standard output.
  func runCampaigns(_ arguments: [String], environment: [String: String] = unreachable) throws
    -> String
  {
    let parsed = try parseArguments(
      arguments, options: campaignsCommand.options, maxPositionals: campaignsCommand.maxPositionals)
    let context = Context(
      environment: environment, logger: Logger(minimumLevel: .error), echo: false)
    try campaignsCommand.run(parsed, context)
    return context.output
  }

  @Test func campaignsWithoutActionIsUsageError() throws {
    #expect(Tool.main(["campaigns"], environment: Self.unreachable) == 2)
    do {
      _ = try runCampaigns([])
      Issue.record("ran without an action")
    } catch let error as UsageError {
      #expect(error.message == "missing action: expected validate or sync")
    }
  }

  @Test func campaignsEmptyDirIsUsageError() throws {
    #expect(Tool.main(["campaigns", "sync", "--dir", ""], environment: Self.unreachable) == 2)
    do {
      _ = try runCampaigns(["validate", "--dir", ""])
      Issue.record("accepted an empty --dir")
    } catch let error as UsageError {
      #expect(
        error.message
          == "invalid value for --dir: the path is empty; pass a folder, or leave out --dir for "
          + "campaigns/ in the checkout")
    }
  }

  @Test func campaignsValidatePrintsCounts() throws {
    let root = try directory(folders: [
      "sync_test": [
        "c-1.json": Self.campaign("c-1"), "c-2.json": Self.campaign("c-2"),
        "portfolio.json": Self.portfolio("sync_test"),
      ],
      "other_set": ["o-1.json": Self.campaign("o-1", dataset: "other_set")],
    ])
    let output = try runCampaigns(["validate", "--dir", root.path])
    #expect(
      output
        == "3 campaigns and 1 portfolio are valid (other_set, sync_test)\n"
        + "note: data sets without portfolio.json have no portfolio budget: other_set; pass "
        + "--budget MICROS to `adpilot allocate` for them, or add portfolio.json to their folders\n"
    )
  }

  @Test func campaignsSyncCountsRemovedPortfolios() throws {
    let config = try TestDatabase.config(suite: "campaign_sync_command_portfolio")
    let environment = ["DATABASE_URL": config.url]
    let first = try directory(folders: [
      "sync_test": [
        "c-1.json": Self.campaign("c-1"), "portfolio.json": Self.portfolio("sync_test"),
      ]
    ])
    let firstOutput = try runCampaigns(["sync", "--dir", first.path], environment: environment)
    #expect(
      firstOutput == "synced 1 campaign and 1 portfolio (sync_test); removed 0 campaigns and 0 "
        + "portfolios\n")
    let second = try directory(folders: ["sync_test": ["c-1.json": Self.campaign("c-1")]])
    let secondOutput = try runCampaigns(["sync", "--dir", second.path], environment: environment)
    #expect(
      secondOutput
        == "synced 1 campaign and 0 portfolios (sync_test); removed 0 campaigns and 1 "
        + "portfolio\n"
        + "note: data sets without portfolio.json have no portfolio budget: sync_test; pass "
        + "--budget MICROS to `adpilot allocate` for them, or add portfolio.json to their folders\n"
    )
  }

  @Test func campaignsSyncNamesUnlistedDatasets() throws {
    let config = try TestDatabase.config(suite: "campaign_sync_command")
    let environment = ["DATABASE_URL": config.url]
    let first = try directory(folders: [
      "sync_test": ["c-1.json": Self.campaign("c-1"), "c-2.json": Self.campaign("c-2")]
    ])
    _ = try runCampaigns(["sync", "--dir", first.path], environment: environment)
    let second = try directory(folders: [
      "other_set": [
        "o-1.json": Self.campaign("o-1", dataset: "other_set"),
        "portfolio.json": Self.portfolio("other_set"),
      ]
    ])
    let output = try runCampaigns(["sync", "--dir", second.path], environment: environment)
    #expect(
      output
        == "synced 1 campaign and 1 portfolio (other_set); removed 0 campaigns and 0 "
        + "portfolios\n"
        + "note: data sets without a folder in \(second.path) were left unchanged: sync_test (2 "
        + "campaigns); to remove a data set's campaigns, keep its folder with only portfolio.json\n"
    )
  }
}

// -------------------------------------------------------------------------------------------------
// PostgreSQL's jsonb input is the reference: every text the parser accepts, jsonb accepts too.

extension CampaignSyncTests {
  /// JSON texts with whether the parser accepts them.
  static let jsonbCases: [(String, Bool)] = [
    (#"{}"#, true),
    (#"{"a": [1, -0, 0.5, -1.5e-3, 2E+10, 1e400], "b": {"c": null}, "d": [true, false]}"#, true),
    (" \t\r\n{\"a\" : \"x\"} \n", true),
    (#"{"a": "\" \\ \/ \b \f \n \r \t \u00e9 \u20AC \ud83d\ude00 \u001f"}"#, true),
    ("{\"a\": \"é € 😀 \u{7F} \u{FFFF}\"}", true),
    (#"["nested", [[[[["deep"]]]]]]"#, true),
    (#""text""#, true),
    (#"12"#, true),
    (#"{"a": 1,}"#, false),
    (#"[1, 2,]"#, false),
    (#"{"a": 01}"#, false),
    (#"{"a": .5}"#, false),
    (#"{"a": 1.}"#, false),
    (#"{"a": +1}"#, false),
    (#"{"a": NaN}"#, false),
    (#"{"a": Infinity}"#, false),
    (#"{'a': 1}"#, false),
    (#"{a: 1}"#, false),
    (#"{"a": 1} // comment"#, false),
    (#"{"a": 1} {"b": 2}"#, false),
    ("{\"a\": \"x\ty\"}", false),
    ("{\"a\": \"x\u{1}y\"}", false),
    ("{\"a\":\u{0C}1}", false),
    ("{\"a\":\u{0B}1}", false),
    ("{\"a\":\u{A0}1}", false),
    (#"{"a": "\ud800"}"#, false),
    (#"{"a": "\udc00"}"#, false),
    (#"{"a": "\ud800\u0041"}"#, false),
    (#"{"a": "\x41"}"#, false),
    (#"{"a": "\u12"}"#, false),
    (#"{"a": tru}"#, false),
    ("", false),
    ("   ", false),
  ]

  @Test func parserAcceptsOnlyWhatJsonbAccepts() throws {
    let connection = try TestDatabase.connect(suite: "campaign_sync_jsonb_reference")
    defer { connection.close() }
    for (text, accepted) in Self.jsonbCases {
      let parsed = (try? JSONParser.parse(Data(text.utf8))) != nil
      #expect(parsed == accepted, "parser on \(text)")
      let stored = (try? connection.query("SELECT $1::jsonb", [.text(text)])) != nil
      #expect(stored == accepted, "jsonb on \(text)")
    }
  }

  @Test func compactJSONIsStoredUnchanged() throws {
    // jsonb reads the serialized text back to the same value: comparing the two jsonb values
    // with = checks every key and string.
    let connection = try TestDatabase.connect(suite: "campaign_sync_jsonb_reference")
    defer { connection.close() }
    for (text, accepted) in Self.jsonbCases where accepted {
      let value = try JSONParser.parse(Data(text.utf8))
      let rows = try connection.query(
        "SELECT $1::jsonb = $2::jsonb", [.text(text), .text(value.serialized())])
      #expect(try rows[0].bool(0), "\(text)")
    }
  }
}
