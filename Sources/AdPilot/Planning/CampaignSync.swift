// Validates campaigns/<data set>/*.json and portfolio.json and syncs them into adpilot.campaigns
// and adpilot.portfolios in one transaction. An invalid file aborts the sync and writes nothing.

import Allocation
import Foundation
import Postgres

/// The outcome of syncing a campaigns directory.
public struct CampaignSyncReport: Sendable {
  public var campaigns: Int
  public var portfolios: Int
  /// The campaigns deleted because their data set's folder no longer has a file for them.
  public var removed: Int
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
struct CampaignDirectory {
  var campaigns: [CampaignDefinition]
  var portfolios: [(portfolio: Portfolio, file: String)]
  /// The data sets found: the folders that contain JSON files, sorted.
  var datasets: [String]
  /// The directory as messages name it: `campaigns` for the checkout's own, else its full path.
  var displayPath: String
}

/// Reads and validates every campaign definition under `directory` (one folder per data set).
///
/// Each folder's name must equal the `dataset` of its portfolio and campaign files, and ids must
/// be unique across folders.
func readCampaignDirectory(_ directory: URL) throws -> CampaignDirectory {
  let files = FileManager.default
  guard let sets = try? files.contentsOfDirectory(atPath: directory.path) else {
    throw PipelineError(
      "campaign directory \(directory.path) cannot be read; create it or pass --dir")
  }
  // Files are named as the user knows them: campaigns/<set>/<file> in the checkout's own folder,
  // the full path anywhere else.
  let isDefault =
    (try? ProjectPaths.campaignsDirectory)?.standardizedFileURL.path
    == directory.standardizedFileURL.path
  var found = CampaignDirectory(
    campaigns: [], portfolios: [], datasets: [],
    displayPath: isDefault ? "campaigns" : directory.standardizedFileURL.path)
  for set in sets.sorted() {
    let folder = directory.appendingPathComponent(set)
    var isDirectory: ObjCBool = false
    guard files.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue
    else { continue }
    var hasFiles = false
    let names = (try? files.contentsOfDirectory(atPath: folder.path)) ?? []
    for name in names.sorted() where name.hasSuffix(".json") {
      let displayName = "\(found.displayPath)/\(set)/\(name)"
      let data: Data
      do {
        data = try Data(contentsOf: folder.appendingPathComponent(name))
      } catch {
        throw PipelineError("\(displayName): cannot be read (\(error.localizedDescription))")
      }
      hasFiles = true
      if name == "portfolio.json" {
        let portfolio = try CampaignFile.parsePortfolio(data, file: displayName)
        try CampaignFile.checkFolder(
          dataset: portfolio.dataset, folder: set, parent: found.displayPath, file: displayName)
        found.portfolios.append((portfolio, displayName))
      } else {
        let (campaign, json) = try CampaignFile.parseDefinition(data, file: displayName)
        try CampaignFile.checkFolder(
          dataset: campaign.dataset, folder: set, parent: found.displayPath, file: displayName)
        found.campaigns.append(
          CampaignDefinition(campaign: campaign, file: displayName, json: json))
      }
    }
    if hasFiles {
      found.datasets.append(set)
    }
  }
  // Ids are unique across sets too: adpilot.campaigns is keyed by id alone.
  try CampaignFile.validateSet(found.campaigns.map { ($0.file, $0.campaign) })
  return found
}

// -------------------------------------------------------------------------------------------------

/// Syncs the campaign files under `directory` into the database in one transaction.
///
/// For each data set with a folder, campaigns without a file are deleted and the others are
/// inserted or updated, with the portfolio. Data sets without a folder are left unchanged and
/// listed in the report. A campaign whose id belongs to another data set in the database is
/// rejected unless that data set is synced in the same run.
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
      datasets: found.datasets,
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
    guard let owner = stored[campaign.id], owner != campaign.dataset,
      !found.datasets.contains(owner)
    else { continue }
    throw CampaignFileError(
      file: definition.file, field: "id", value: CampaignFileError.quoted(campaign.id),
      message: "belongs to data set '\(owner)' in the database, not '\(campaign.dataset)'",
      fix: "choose another id, or move the campaign by syncing a folder "
        + "\(found.displayPath)/\(owner)/ without it in the same run")
  }
}

private func upsertCampaign(_ connection: Connection, _ definition: CampaignDefinition) throws {
  let campaign = definition.campaign
  _ = try connection.execute(
    """
    INSERT INTO adpilot.campaigns
        (id, dataset, name, advertiser, value_per_click_micros, daily_budget_micros,
         min_daily_micros, max_daily_micros, lifetime_budget_micros, priority, pacing_mode,
         time_zone, status, source_file, definition, synced_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, now())
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
        synced_at = now()
    """,
    [
      .text(campaign.id), .text(campaign.dataset), .text(campaign.name),
      .text(campaign.advertiser), .int64(campaign.valuePerClickMicros),
      .int64(campaign.dailyBudgetMicros), .int64(campaign.minDailyMicros),
      campaign.maxDailyMicros.map(PostgresValue.int64) ?? .null,
      campaign.lifetimeBudgetMicros.map(PostgresValue.int64) ?? .null,
      .int32(Int32(clamping: campaign.priority)), .text(campaign.pacing.rawValue),
      .text(campaign.timeZone.identifier), .text(campaign.status), .text(definition.file),
      .jsonb(definition.json),
    ])
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

/// Validates every campaign file under `directory` and returns how many campaigns it defines.
public func validateCampaignDirectory(_ directory: URL) throws -> Int {
  try readCampaignDirectory(directory).campaigns.count
}
