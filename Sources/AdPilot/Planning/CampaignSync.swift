// Validates campaigns/<set>/*.json and portfolio.json and syncs them into adpilot.campaigns and
// adpilot.portfolios in one transaction. An invalid file aborts the sync and writes nothing.

import Allocation
import Foundation
import Postgres

/// The outcome of syncing a campaigns directory.
public struct CampaignSyncReport: Sendable {
  public var campaigns: Int
  public var portfolios: Int
  public var removed: Int
  public var datasets: [String]
}

/// One campaign file's parsed definition and its source.
struct CampaignDefinition {
  var campaign: Campaign
  var file: String
  /// The file's object as compact JSON, as `CampaignFile.parseDefinition` returns it.
  var json: String
}

/// Reads every campaign definition under `directory` (one folder per campaign set).
func readCampaignDirectory(_ directory: URL) throws -> (
  campaigns: [CampaignDefinition], portfolios: [(Portfolio, String)]
) {
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
  let prefix = isDefault ? "campaigns" : directory.standardizedFileURL.path
  var campaigns: [CampaignDefinition] = []
  var portfolios: [(Portfolio, String)] = []
  for set in sets.sorted() {
    let folder = directory.appendingPathComponent(set)
    var isDirectory: ObjCBool = false
    guard files.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue
    else { continue }
    var setCampaigns: [CampaignDefinition] = []
    var setPortfolio: (file: String, portfolio: Portfolio)?
    let names = (try? files.contentsOfDirectory(atPath: folder.path)) ?? []
    for name in names.sorted() where name.hasSuffix(".json") {
      let displayName = "\(prefix)/\(set)/\(name)"
      let data: Data
      do {
        data = try Data(contentsOf: folder.appendingPathComponent(name))
      } catch {
        throw PipelineError("\(displayName): cannot be read (\(error.localizedDescription))")
      }
      if name == "portfolio.json" {
        setPortfolio = (displayName, try CampaignFile.parsePortfolio(data, file: displayName))
      } else {
        let (campaign, json) = try CampaignFile.parseDefinition(data, file: displayName)
        setCampaigns.append(CampaignDefinition(campaign: campaign, file: displayName, json: json))
      }
    }
    try CampaignFile.validateSet(
      setCampaigns.map { ($0.file, $0.campaign) }, portfolio: setPortfolio)
    campaigns += setCampaigns
    if let setPortfolio { portfolios.append((setPortfolio.portfolio, setPortfolio.file)) }
  }
  // Ids are unique across sets too: adpilot.campaigns is keyed by id alone.
  try CampaignFile.validateSet(campaigns.map { ($0.file, $0.campaign) })
  return (campaigns, portfolios)
}

/// Syncs the campaign files under `directory` into the database in one transaction.
public func syncCampaigns(_ connection: Connection, directory: URL) throws -> CampaignSyncReport {
  let (definitions, portfolios) = try readCampaignDirectory(directory)
  let datasets = Array(Set(definitions.map(\.campaign.dataset) + portfolios.map(\.0.dataset)))
    .sorted()
  return try connection.transaction {
    try connection.advisoryXactLock(Connection.advisoryKey("adpilot.campaigns"))
    var removed = 0
    for dataset in datasets {
      let ids = definitions.filter { $0.campaign.dataset == dataset }.map {
        Optional($0.campaign.id)
      }
      removed += try connection.execute(
        "DELETE FROM adpilot.campaigns WHERE dataset = $1 AND NOT (id = ANY($2::text[]))",
        [.text(dataset), .textArray(ids)])
    }
    for definition in definitions {
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
    for (portfolio, file) in portfolios {
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
      campaigns: definitions.count, portfolios: portfolios.count, removed: removed,
      datasets: datasets)
  }
}

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
