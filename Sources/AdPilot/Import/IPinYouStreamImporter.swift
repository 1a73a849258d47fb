// Imports the iPinYou per-impression click and market-price streams of the RLB data into the
// time-validated data set `ipinyou_rlb` (no features), for the allocator. Test episodes are skipped.

import CTR
import Foundation
import Postgres

/// An importer of the flattened iPinYou RLB streams: a CSV with the header
/// `campaign,split,episode,step,click,market_price,pctr`, gzip-compressed or not.
///
/// Calendar: an episode is one day of 1000 impressions. Day i is the i-th validation episode of
/// each advertiser (episodes ranked by id), and starts at local midnight in Asia/Shanghai of
/// 2013-06-06 + (i - 1) days. Step s (1...1000) is at day start + (s - 1) * 86.4 s, so its
/// hour is floor((s - 1) * 24 / 1000). Each row is one impression: cost_micros =
/// market_price * 10 (CNY fen per 1000 impressions to micro-CNY per impression), logged_pctr =
/// pctr, ad_id = the advertiser id, campaign_id = `ipinyou-<advertiser id>` as in its campaign
/// file, no features, split "train". Rows of the test split are left out and counted in
/// `ImportReport.skipped` under "test split". Advertiser, episode and step must be ASCII digits
/// without a sign or a leading zero, and other rows are rejected as "invalid id".
public enum IPinYouStreamImporter {
  public static let defaultDataset = "ipinyou_rlb"
  /// The feature spec: no feature fields, because the streams carry only an outside pCTR.
  public static let spec = FeatureSpec(categorical: [])
  /// Steps per episode in the RLB data.
  public static let stepsPerEpisode = 1000
  public static let timeZone = "Asia/Shanghai"
  static let firstDay = DateComponents(year: 2013, month: 6, day: 6)
  static let columns = ["campaign", "split", "episode", "step", "click", "market_price", "pctr"]

  /// Imports `file` in one transaction, replacing the data set's earlier rows. The file is read
  /// twice: once to rank each advertiser's episodes, once to load. So it must be a regular file,
  /// because a pipe or a device would yield its rows to the first read only.
  public static func importFile(
    _ connection: Connection, file: URL, dataset: String = defaultDataset
  ) throws -> ImportReport {
    try requireRegularFile(file)
    let summary = try IPinYouStreamSummary(file: file)
    let calendar = try DayCalendar()
    let reader = try LineReader(url: file)
    _ = try reader.next()

    return try ImportSession.run(
      connection: connection, dataset: dataset, file: file, splits: ["train", "test"]
    ) { session in
      try registerDataset(
        connection, name: dataset, spec: spec, validation: "time",
        source: "iPinYou RTB 2013 market-price streams of the RLB data, \(file.lastPathComponent)",
        file: file)
      var loadedSteps = LoadedSteps()
      while let line = try reader.next() {
        let parsed = loadedSteps.admit(
          reader.lastLineRejectReason.map { .failure(.rejected($0)) } ?? parse(line))
        switch parsed {
        case .failure(let outcome):
          switch outcome {
          case .rejected(let reason):
            try session.reject(line: reader.lineNumber, reason: reason, rawLine: line)
          case .skipped(let reason): session.skip(reason: reason)
          }
        case .success(let row):
          guard let day = summary.day(advertiser: row.advertiser, episode: row.episode) else {
            throw ImportError(
              file: file.path, line: reader.lineNumber,
              message:
                "episode \(row.episode) of advertiser \(row.advertiser) was not in the first read",
              fix: "do not change the file during the import")
          }
          let time = calendar.start(ofDay: day)
            .addingTimeInterval(Double(row.step - 1) * 86_400 / Double(stepsPerEpisode))
          try session.load(
            ImpressionRecord(
              dataset: dataset, time: time,
              requestId: "\(row.advertiser)-\(row.episode)-\(row.step)", adId: row.advertiser,
              campaignId: IPinYouCampaigns.campaignId(advertiser: row.advertiser), click: row.click,
              costMicros: row.costMicros,
              loggedPCTR: row.pctr))
        }
      }
    }
  }

  /// Throws when `file` exists but is not a regular file once symbolic links are followed,
  /// such as the `/dev/fd/N` pipe of a shell's `<(zcat FILE)`. A missing file or a directory
  /// is left to ``LineReader``, which names it.
  static func requireRegularFile(_ file: URL) throws {
    var status = stat()
    guard stat(file.path, &status) == 0 else { return }
    let type = status.st_mode & S_IFMT
    guard type != S_IFREG && type != S_IFDIR else { return }
    throw ImportError(
      file: file.path,
      message: "is not a regular file (a pipe or a device), but the streams importer reads its "
        + "file twice: once to number each advertiser's episodes, once to load",
      fix: "write the rows to a file first, or pass the .gz file itself, which the importer "
        + "decompresses")
  }

  /// One validation row of the streams.
  struct StreamRow: Equatable {
    var advertiser: String
    var episode: Int
    var step: Int
    var click: Int16
    var costMicros: Int64
    var pctr: Double?
  }

  /// The steps of each advertiser's episodes that earlier lines loaded, one bit per step.
  ///
  /// Both reads of the file pass every line through ``admit(_:)`` in the same order, so they
  /// agree on which copy of a repeated step loads: the first.
  struct LoadedSteps {
    private struct Episode: Hashable {
      var advertiser: String
      var episode: Int
    }
    private var steps: [Episode: [UInt64]] = [:]

    /// Returns `parsed`, or a rejection as a duplicate id when an earlier row had its
    /// advertiser, episode and step.
    mutating func admit(_ parsed: Result<StreamRow, Exclusion>) -> Result<StreamRow, Exclusion> {
      guard case .success(let row) = parsed else { return parsed }
      let key = Episode(advertiser: row.advertiser, episode: row.episode)
      let (word, bit) = ((row.step - 1) / 64, UInt64(1) << ((row.step - 1) % 64))
      let empty = [UInt64](repeating: 0, count: (stepsPerEpisode + 63) / 64)
      guard steps[key, default: empty][word] & bit == 0 else {
        return .failure(.rejected(RejectReason.duplicateId))
      }
      steps[key, default: empty][word] |= bit
      return parsed
    }
  }

  /// Why a row does not load: rejected (bad data) or skipped (a test row).
  enum Exclusion: Error, Equatable {
    case rejected(String)
    case skipped(String)
  }

  /// Parses one data line into a validation row.
  static func parse(_ line: String) -> Result<StreamRow, Exclusion> {
    guard !line.isEmpty else { return .failure(.rejected(RejectReason.emptyLine)) }
    guard !line.utf8.contains(0) else { return .failure(.rejected(RejectReason.nulByte)) }
    guard let fields = splitCSVLine(line) else {
      return .failure(.rejected(csvQuotingReason(line)))
    }
    guard fields.count == columns.count else {
      return .failure(.rejected(RejectReason.wrongColumnCount))
    }
    switch fields[1] {
    case "validation": break
    case "test": return .failure(.skipped("test split"))
    default: return .failure(.rejected(RejectReason.invalidSplit))
    }
    guard !fields[0].isEmpty else { return .failure(.rejected(RejectReason.missingId)) }
    // The advertiser id is kept as text, so "1458 " or "01458" would become its own campaign.
    guard isCanonicalNumber(fields[0]) else { return .failure(.rejected(RejectReason.invalidId)) }
    guard fields[0].utf8.count <= ImpressionRecord.maxIdBytes else {
      return .failure(.rejected(RejectReason.idTooLong))
    }
    guard !fields[4].isEmpty else { return .failure(.rejected(RejectReason.missingLabel)) }
    guard let click = parseClick(fields[4]) else {
      return .failure(.rejected(RejectReason.invalidLabel))
    }
    // Episode and step complete the row's id, so they are held to the advertiser's form too.
    guard !fields[2].isEmpty, !fields[3].isEmpty else {
      return .failure(.rejected(RejectReason.missingId))
    }
    guard isCanonicalNumber(fields[2]), isCanonicalNumber(fields[3]) else {
      return .failure(.rejected(RejectReason.invalidId))
    }
    // Episodes are numbered from 1, and each one's rank among its advertiser's sets its day.
    guard let episode = Int(fields[2]), episode >= 1, let step = Int(fields[3]),
      (1...stepsPerEpisode).contains(step)
    else { return .failure(.rejected(RejectReason.invalidTime)) }
    let cost = iPinYouCostMicros(fields[5])
    guard let costMicros = cost.micros else { return .failure(.rejected(cost.reason)) }
    let pctr: Double?
    switch NumberField(fields[6]) {
    case .missing: pctr = nil
    case .value(let value) where (0...1).contains(value): pctr = value
    case .value: return .failure(.rejected(RejectReason.invalidPCTR))
    case .outOfRange: return .failure(.rejected(RejectReason.numberOutOfRange(in: "pctr")))
    case .invalid: return .failure(.rejected(RejectReason.nonNumericNumber(in: "pctr")))
    }
    return .success(
      StreamRow(
        advertiser: String(fields[0]), episode: episode, step: step, click: click,
        costMicros: costMicros, pctr: pctr))
  }

  /// Returns whether `field` is a number in the form the streams write: ASCII digits without a
  /// sign, and without a leading zero unless the number is 0.
  static func isCanonicalNumber(_ field: Substring) -> Bool {
    let digits = field.utf8
    guard let first = digits.first,
      digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
    else { return false }
    return first != UInt8(ascii: "0") || digits.count == 1
  }

  /// Start times of the stream days in Asia/Shanghai, computed once per day.
  struct DayCalendar {
    private let calendar: Calendar
    private let first: Date

    init() throws {
      guard let zone = TimeZone(identifier: IPinYouStreamImporter.timeZone) else {
        throw ImportError(
          file: "time zone database", message: "time zone 'Asia/Shanghai' not found",
          fix: "install the tz database (tzdata)")
      }
      var calendar = Calendar(identifier: .gregorian)
      calendar.timeZone = zone
      guard let first = calendar.date(from: IPinYouStreamImporter.firstDay) else {
        throw ImportError(
          file: "time zone database", message: "failed to compute 2013-06-06 in Asia/Shanghai",
          fix: "check the tz database (tzdata)")
      }
      self.calendar = calendar
      self.first = first
    }

    /// Returns local midnight of day `day` (1 = 2013-06-06).
    func start(ofDay day: Int) -> Date {
      calendar.date(byAdding: .day, value: day - 1, to: first) ?? first
    }
  }
}

/// Per-advertiser totals of the validation rows of an RLB streams file.
public struct IPinYouStreamSummary: Sendable, Equatable {
  /// Totals of one advertiser's loadable validation rows.
  public struct Advertiser: Sendable, Equatable {
    /// Episode ids, ascending; day i is episodes[i - 1].
    public var episodes: [Int]
    public var impressions: Int
    public var clicks: Int
    public var costMicros: Int64

    /// Mean logged cost per day (episode), in micros.
    public var meanDailyCostMicros: Double {
      episodes.isEmpty ? 0 : Double(costMicros) / Double(episodes.count)
    }
  }

  public var advertisers: [String: Advertiser]
  private var dayIndex: [String: [Int: Int]]

  /// Reads `file` once and totals the rows that the importer would load.
  public init(file: URL) throws {
    let reader = try LineReader(url: file)
    guard let header = try reader.next() else {
      throw ImportError(file: file.path, message: "empty file", fix: "expected a header line")
    }
    guard (splitCSVLine(header) ?? []).map(String.init) == IPinYouStreamImporter.columns
    else {
      throw ImportError(
        file: file.path, line: 1, message: "invalid header '\(header)'",
        fix: "expected '\(IPinYouStreamImporter.columns.joined(separator: ","))'")
    }
    var episodes: [String: Set<Int>] = [:]
    var totals: [String: Advertiser] = [:]
    var loadedSteps = IPinYouStreamImporter.LoadedSteps()
    while let line = try reader.next() {
      let parsed = loadedSteps.admit(
        reader.lastLineRejectReason.map { .failure(.rejected($0)) }
          ?? IPinYouStreamImporter.parse(line))
      guard case .success(let row) = parsed else { continue }
      episodes[row.advertiser, default: []].insert(row.episode)
      var total = totals[
        row.advertiser,
        default: Advertiser(
          episodes: [], impressions: 0, clicks: 0, costMicros: 0)]
      total.impressions += 1
      total.clicks += Int(row.click)
      total.costMicros += row.costMicros
      totals[row.advertiser] = total
    }
    for (advertiser, ids) in episodes {
      totals[advertiser]?.episodes = ids.sorted()
    }
    self.init(advertisers: totals)
  }

  /// Creates a summary from totals; `episodes` must be ascending.
  public init(advertisers: [String: Advertiser]) {
    self.advertisers = advertisers
    var dayIndex: [String: [Int: Int]] = [:]
    for (advertiser, totals) in advertisers {
      var days: [Int: Int] = [:]
      for (offset, episode) in totals.episodes.enumerated() {
        days[episode] = offset + 1
      }
      dayIndex[advertiser] = days
    }
    self.dayIndex = dayIndex
  }

  /// Returns the day number (from 1) of an advertiser's episode, or nil if unknown.
  public func day(advertiser: String, episode: Int) -> Int? {
    dayIndex[advertiser]?[episode]
  }
}
