// Validates campaigns/<data set>/*.json and portfolio.json and syncs them into adpilot.campaigns
// and adpilot.portfolios in one transaction. An invalid file aborts the sync and writes nothing.

import Allocation
import Foundation
import Postgres

/// The outcome of syncing a campaigns directory.
public struct CampaignSyncReport: Sendable {
  public var campaigns: Int
  /// The portfolio files synced.
  public var portfolios: Int
  /// The campaigns deleted because their data set's folder no longer has a file for them.
  public var removed: Int
  /// The portfolios deleted because their data set's folder no longer has a portfolio.json.
  public var removedPortfolios: Int
  /// The data sets synced whose folder has no portfolio.json, sorted. After the sync they have
  /// no portfolio in the database, so planning them needs an explicit budget.
  public var datasetsWithoutPortfolio: [String]
  /// The data sets synced: the folders that contain JSON files, sorted.
  public var datasets: [String]
  /// The data sets in the database that have no folder in the directory, with their number of
  /// campaigns. The sync leaves them unchanged.
  public var datasetsWithoutFolder: [(dataset: String, campaigns: Int)]
  /// The directory as messages name it: `campaigns` for the checkout's own, else its full path.
  public var displayPath: String
}

/// One campaign file's parsed definition and its source.
struct CampaignDefinition {
  var campaign: Campaign
  var file: String
  /// The file's object as compact JSON, as `CampaignFile.parseDefinition` returns it.
  var json: String
}

/// The validated campaign and portfolio files of a campaigns directory.
public struct CampaignDirectory {
  var campaigns: [CampaignDefinition]
  var portfolios: [(portfolio: Portfolio, file: String)]
  /// The data sets found: the folders that contain JSON files, sorted.
  public var datasets: [String]
  /// The directory as messages name it: `campaigns` for the checkout's own, else its full path.
  var displayPath: String

  public var campaignCount: Int { campaigns.count }
  public var portfolioCount: Int { portfolios.count }

  /// The data sets found whose folder has no portfolio.json, sorted.
  public var datasetsWithoutPortfolio: [String] {
    let withPortfolio = Set(portfolios.map(\.portfolio.dataset))
    return datasets.filter { !withPortfolio.contains($0) }
  }
}

/// Reads and validates every campaign definition under `directory`, which contains one folder
/// per data set.
///
/// Names starting with `.` are skipped, and so are files that do not end in `.json`. The name of
/// each folder with `.json` files must be a valid data set name and equal the `dataset` of its
/// portfolio and campaign files. Each campaign file is named for its id, and ids must be unique
/// across folders.
///
/// - Throws: `CampaignFileError` naming the first invalid file, or `PipelineError` when the
///   directory cannot be read or contains no campaign files.
func readCampaignDirectory(_ directory: URL) throws -> CampaignDirectory {
  let files = FileManager.default
  let entries = try visibleNames(in: directory)
  // Files are named as the user knows them: campaigns/<set>/<file> in the checkout's own folder,
  // the full path anywhere else.
  let isDefault =
    (try? ProjectPaths.campaignsDirectory)?.standardizedFileURL.path
    == directory.standardizedFileURL.path
  var found = CampaignDirectory(
    campaigns: [], portfolios: [], datasets: [],
    displayPath: isDefault ? "campaigns" : directory.standardizedFileURL.path)

  for name in entries {
    let url = directory.appendingPathComponent(name)
    var isDirectory: ObjCBool = false
    let exists = files.fileExists(atPath: url.path, isDirectory: &isDirectory)
    if exists && isDirectory.boolValue {
      try readDatasetFolder(url, into: &found)
    } else if name.lowercased().hasSuffix(".json") {
      throw CampaignFileError(
        file: "\(found.displayPath)/\(name)", field: nil, value: nil,
        message: "is not in a data-set folder",
        fix: "move it to \(found.displayPath)/<data set>/\(name), or if \(found.displayPath) is "
          + "one data set's folder, pass its parent folder as --dir")
    }
  }

  guard !found.datasets.isEmpty else {
    throw PipelineError(
      "no campaign files in \(found.displayPath): expected one folder per data set, such as "
        + "\(found.displayPath)/synthetic/ with portfolio.json and <campaign id>.json files")
  }
  // Ids are unique across sets too: adpilot.campaigns is keyed by id alone.
  try CampaignFile.validateSet(found.campaigns.map { ($0.file, $0.campaign) })
  return found
}

/// Returns the sorted names in `directory`, without hidden ones.
private func visibleNames(in directory: URL) throws -> [String] {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
    throw PipelineError(
      "campaign directory \(directory.path) does not exist; create it or pass --dir")
  }
  guard isDirectory.boolValue else {
    throw PipelineError(
      "campaign directory \(directory.path) is not a folder; pass the folder that contains one "
        + "folder per data set")
  }
  let names: [String]
  do {
    names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
  } catch {
    throw PipelineError(
      "campaign directory \(directory.path) cannot be read (\(readFailureReason(error)))")
  }
  return names.filter { !$0.hasPrefix(".") }.sorted()
}

/// Reads the portfolio and campaign files of one data-set folder into `found`. A folder without
/// JSON files adds nothing.
private func readDatasetFolder(_ folder: URL, into found: inout CampaignDirectory) throws {
  let dataset = folder.lastPathComponent
  let names = try visibleNames(in: folder)
  if names.contains(where: { $0.lowercased().hasSuffix(".json") }) {
    try CampaignFile.checkFolderName(dataset, path: "\(found.displayPath)/\(dataset)")
  }
  var hasFiles = false
  for name in names {
    let displayName = "\(found.displayPath)/\(dataset)/\(name)"
    guard name.hasSuffix(".json") else {
      if name.lowercased().hasSuffix(".json") {
        throw CampaignFileError(
          file: displayName, field: nil, value: nil, message: "must end in lowercase .json",
          fix: "rename it to \(name.dropLast(5)).json")
      }
      continue
    }
    let data = try readJSONFile(folder.appendingPathComponent(name), displayName: displayName)
    hasFiles = true
    if name == "portfolio.json" {
      let portfolio = try CampaignFile.parsePortfolio(data, file: displayName)
      try CampaignFile.checkFolder(
        dataset: portfolio.dataset, folder: dataset, parent: found.displayPath, file: displayName)
      found.portfolios.append((portfolio, displayName))
    } else {
      let (campaign, json) = try CampaignFile.parseDefinition(data, file: displayName)
      try CampaignFile.checkFolder(
        dataset: campaign.dataset, folder: dataset, parent: found.displayPath, file: displayName)
      try CampaignFile.checkFileName(id: campaign.id, fileName: name, file: displayName)
      found.campaigns.append(CampaignDefinition(campaign: campaign, file: displayName, json: json))
    }
  }
  if hasFiles {
    found.datasets.append(dataset)
  }
}

/// Reads one `.json` entry of a data-set folder, rejecting folders and broken links by name.
private func readJSONFile(_ url: URL, displayName: String) throws -> Data {
  let files = FileManager.default
  let type = (try? files.attributesOfItem(atPath: url.path))?[.type] as? FileAttributeType
  var isDirectory: ObjCBool = false
  let exists = files.fileExists(atPath: url.path, isDirectory: &isDirectory)
  if type == .typeSymbolicLink && !exists {
    // fileExists follows links, so a loop of links reaches no file either.
    let target = (try? files.destinationOfSymbolicLink(atPath: url.path)) ?? "?"
    throw CampaignFileError(
      file: displayName, field: nil, value: nil,
      message: "is a symbolic link to \(target), which leads to no file (missing, or a loop "
        + "of links)",
      fix: "point the link at a campaign file, or remove it")
  }
  if exists && isDirectory.boolValue {
    throw CampaignFileError(
      file: displayName, field: nil, value: nil, message: "is a folder, not a file",
      fix: "rename it so that its name does not end in .json, or move it out of the folder")
  }
  // A FIFO or device would block the read or return endless bytes.
  let resolvedType =
    (try? files.attributesOfItem(atPath: url.resolvingSymlinksInPath().path))?[.type]
    as? FileAttributeType
  if exists, let resolvedType, resolvedType != .typeRegular {
    throw CampaignFileError(
      file: displayName, field: nil, value: nil,
      message: "is not a regular file but \(specialFileKind(resolvedType))",
      fix: "replace it with a campaign file, or remove it")
  }
  do {
    return try Data(contentsOf: url)
  } catch {
    throw CampaignFileError(
      file: displayName, field: nil, value: nil,
      message: "cannot be read (\(readFailureReason(error)))",
      fix: "make the file readable, or remove it")
  }
}

/// Returns a file type other than a regular file, folder or link in words.
private func specialFileKind(_ type: FileAttributeType) -> String {
  switch type {
  case .typeCharacterSpecial: return "a character device"
  case .typeBlockSpecial: return "a block device"
  case .typeSocket: return "a socket"
  default: return "a FIFO or another special file"
  }
}

/// Returns the operating system's reason for a failed file operation, such as "Permission
/// denied", in place of Foundation's numbered error.
private func readFailureReason(_ error: Error) -> String {
  let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
  return (underlying ?? error as NSError).localizedDescription
}

// -------------------------------------------------------------------------------------------------

/// Syncs the campaign files under `directory` into the database in one transaction.
///
/// For each data set with a folder, campaigns without a file are deleted and the others are
/// inserted or updated. The portfolio is inserted or updated from portfolio.json, or deleted
/// when the folder has none. Data sets without a folder are left unchanged and listed in the
/// report. A campaign whose id belongs to another data set in the database is rejected unless
/// that data set is synced in the same run.
public func syncCampaigns(_ connection: Connection, directory: URL) throws -> CampaignSyncReport {
  let found = try readCampaignDirectory(directory)
  return try connection.transaction {
    try connection.advisoryXactLock(Connection.advisoryKey("adpilot.campaigns"))
    try checkDatasetMoves(found, stored: try storedDatasets(connection, of: found.campaigns))

    // A campaign moved to another synced folder is updated below, so it is not deleted here.
    let ids = found.campaigns.map { Optional($0.campaign.id) }
    let removed = try connection.execute(
      """
      DELETE FROM adpilot.campaigns
      WHERE dataset = ANY($1::text[]) AND NOT (id = ANY($2::text[]))
      """,
      [.textArray(found.datasets.map { Optional($0) }), .textArray(ids)])
    for definition in found.campaigns {
      try upsertCampaign(connection, definition)
    }
    let removedPortfolios = try connection.execute(
      """
      DELETE FROM adpilot.portfolios
      WHERE dataset = ANY($1::text[]) AND NOT (dataset = ANY($2::text[]))
      """,
      [
        .textArray(found.datasets.map { Optional($0) }),
        .textArray(found.portfolios.map { Optional($0.portfolio.dataset) }),
      ])
    for (portfolio, file) in found.portfolios {
      _ = try connection.execute(
        """
        INSERT INTO adpilot.portfolios (dataset, daily_budget_micros, source_file)
        VALUES ($1, $2, $3)
        ON CONFLICT (dataset) DO UPDATE SET
            daily_budget_micros = excluded.daily_budget_micros,
            source_file = excluded.source_file, synced_at = now()
        """, [.text(portfolio.dataset), .int64(portfolio.dailyBudgetMicros), .text(file)])
    }

    return CampaignSyncReport(
      campaigns: found.campaigns.count, portfolios: found.portfolios.count, removed: removed,
      removedPortfolios: removedPortfolios,
      datasetsWithoutPortfolio: found.datasetsWithoutPortfolio, datasets: found.datasets,
      datasetsWithoutFolder: try storedDatasetsWithoutFolder(connection, synced: found.datasets),
      displayPath: found.displayPath)
  }
}

/// Returns the data set that each of the definitions' ids belongs to in the database.
private func storedDatasets(_ connection: Connection, of definitions: [CampaignDefinition]) throws
  -> [String: String]
{
  let rows = try connection.query(
    "SELECT id, dataset FROM adpilot.campaigns WHERE id = ANY($1::text[])",
    [.textArray(definitions.map { Optional($0.campaign.id) })])
  var datasets: [String: String] = [:]
  for row in rows {
    datasets[try row.string(0)] = try row.string(1)
  }
  return datasets
}

/// Rejects a campaign whose id belongs to another data set in the database, unless that data
/// set is synced in the same run. Its folder then has no file with the id (ids are unique across
/// folders), so the campaign was moved on purpose.
func checkDatasetMoves(_ found: CampaignDirectory, stored: [String: String])
  throws(CampaignFileError)
{
  for definition in found.campaigns {
    let campaign = definition.campaign
    guard let owner = stored[campaign.id],
      !owner.unicodeScalars.elementsEqual(campaign.dataset.unicodeScalars),
      !found.datasets.contains(where: { $0.unicodeScalars.elementsEqual(owner.unicodeScalars) })
    else { continue }
    throw CampaignFileError(
      file: definition.file, field: "id", value: CampaignFileError.quoted(campaign.id),
      message: "belongs to data set '\(owner)' in the database, not '\(campaign.dataset)'",
      fix: "choose another id, or move the campaign by syncing a folder "
        + "\(found.displayPath)/\(owner)/ without it in the same run")
  }
}

/// Inserts or updates one campaign. Time zone, flight dates and targeting are read from the
/// stored definition as written, since Foundation names UTC `GMT`.
private func upsertCampaign(_ connection: Connection, _ definition: CampaignDefinition) throws {
  let campaign = definition.campaign
  _ = try connection.execute(
    """
    INSERT INTO adpilot.campaigns
        (id, dataset, name, advertiser, value_per_click_micros, daily_budget_micros,
         min_daily_micros, max_daily_micros, lifetime_budget_micros, priority, pacing_mode,
         time_zone, status, source_file, definition, day_parting, flight_start, flight_end,
         targeting, synced_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
            coalesce($14::jsonb ->> 'time_zone', 'UTC'), $12, $13, $14::jsonb, $15,
            ($14::jsonb ->> 'flight_start')::date, ($14::jsonb ->> 'flight_end')::date,
            coalesce($14::jsonb -> 'targeting', '{}'), now())
    ON CONFLICT (id) DO UPDATE SET
        dataset = excluded.dataset, name = excluded.name, advertiser = excluded.advertiser,
        value_per_click_micros = excluded.value_per_click_micros,
        daily_budget_micros = excluded.daily_budget_micros,
        min_daily_micros = excluded.min_daily_micros,
        max_daily_micros = excluded.max_daily_micros,
        lifetime_budget_micros = excluded.lifetime_budget_micros,
        priority = excluded.priority, pacing_mode = excluded.pacing_mode,
        time_zone = excluded.time_zone, status = excluded.status,
        source_file = excluded.source_file, definition = excluded.definition,
        day_parting = excluded.day_parting, flight_start = excluded.flight_start,
        flight_end = excluded.flight_end, targeting = excluded.targeting, synced_at = now()
    """,
    [
      .text(campaign.id), .text(campaign.dataset), .text(campaign.name),
      .text(campaign.advertiser), .int64(campaign.valuePerClickMicros),
      .int64(campaign.dailyBudgetMicros), .int64(campaign.minDailyMicros),
      campaign.maxDailyMicros.map(PostgresValue.int64) ?? .null,
      campaign.lifetimeBudgetMicros.map(PostgresValue.int64) ?? .null,
      .int32(Int32(clamping: campaign.priority)), .text(campaign.pacing.rawValue),
      .text(campaign.status), .text(definition.file),
      .jsonb(definition.json), dayPartingColumn(campaign.dayParting),
    ])
}

/// Returns the `day_parting` column of a campaign: its active local hours of the week, sorted,
/// numbered from 0 (Monday 00:00) to 167 (Sunday 23:00), or NULL when every hour is active.
func dayPartingColumn(_ dayParting: [Int: Set<Int>]?) -> PostgresValue {
  guard let dayParting else { return .null }
  let hours = dayParting.flatMap { weekday, hours in hours.map { (weekday - 1) * 24 + $0 } }
  return .int32Array(hours.sorted().map { Int32($0) })
}

/// Returns the data sets with campaigns or a portfolio in the database that are not in `synced`,
/// with their number of campaigns, sorted by name.
private func storedDatasetsWithoutFolder(_ connection: Connection, synced: [String]) throws
  -> [(dataset: String, campaigns: Int)]
{
  try connection.query(
    """
    SELECT dataset, count(id)
    FROM (SELECT dataset, id FROM adpilot.campaigns
          UNION ALL
          SELECT dataset, NULL FROM adpilot.portfolios) AS stored
    WHERE NOT (dataset = ANY($1::text[]))
    GROUP BY dataset
    ORDER BY dataset
    """, [.textArray(synced.map { Optional($0) })]
  ).map { row in (try row.string(0), Int(try row.int64(1))) }
}

// -------------------------------------------------------------------------------------------------

/// Loads the synced campaigns of `dataset`, parsed again from their stored definitions.
func loadCampaigns(_ connection: Connection, dataset: String) throws -> [Campaign] {
  try connection.query(
    """
    SELECT definition::text, source_file
    FROM adpilot.campaigns
    WHERE dataset = $1
    ORDER BY id
    """, [.text(dataset)]
  ).map { row in
    try CampaignFile.parse(Data(try row.string(0).utf8), file: try row.string(1))
  }
}

/// Validates every campaign file under `directory` and returns what it found.
public func validateCampaignDirectory(_ directory: URL) throws -> CampaignDirectory {
  try readCampaignDirectory(directory)
}
