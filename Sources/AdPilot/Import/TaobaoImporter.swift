// Imports the Taobao display-ad sample in the Deep Match to Rank (DMR) preprocessing layout into
// data set `taobao`, with behaviour sequences, and upserts the users' profiles into adpilot.users.

import CTR
import Foundation
import Postgres

/// An importer of the DMR layout: a header line, then per row 50 behaviour types
/// (cont_btag_00..49), categories (his_cate_00..49), brands (his_brand_00..49), masks
/// (mask_00..49, 1 = real behaviour), DMR helper masks (match_mask_00..49), the user profile,
/// the candidate ad, pid and target (the click).
///
/// The file has no time column: row r (0 for the first data row, counting rejected rows) gets
/// 2017-05-06T00:00:00+08:00 (the first day of the Taobao log) + r seconds, and the split
/// `RowSplit.split(row: r, seed: seed)`. user_id = uid, ad_id = mid, campaign_id = campaign_id,
/// request_id "r<row>", cost 0 (the log has no prices paid).
public enum TaobaoImporter {
  public static let defaultDataset = "taobao"

  /// The user profile fields, in the order of `adpilot.users.profile`.
  public static let profileFields = [
    "cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level",
    "shopping_level", "occupation", "new_user_class_level",
  ]
  static let adFields = ["mid", "cate_id", "campaign_id", "customer", "brand"]
  static let historyLength = 50

  /// The feature spec. User fields: the profile (uid is kept as user_id but is not a feature,
  /// because most users appear in only a few rows). Ad fields: mid, cate_id, campaign_id,
  /// customer, brand, and price (numeric). NOTE: DMR normalized price to about 0.53-1.0, which the
  /// encoder's sqrt(2)-wide log buckets put into only two buckets, so price adds little.
  /// Context: pid. Sequence items: his_cate (shares cate_id) and his_brand (shares brand), at
  /// most 50, most recent first. The profile values are stored as given; 0 is a value here.
  /// The profile fields have at most 39 values in the sample, so 128 buckets each. NOTE: the ad
  /// field bucket counts (2^13 to 2^16) are estimates for the full log, whose ads, campaigns and
  /// brands run to hundreds of thousands, so those tables share buckets there.
  public static let spec = FeatureSpec(
    categorical: profileFields.map { CategoricalField(name: $0, role: .user, buckets: 128) } + [
      CategoricalField(name: "mid", role: .ad, buckets: 1 << 16),
      CategoricalField(name: "cate_id", role: .ad, buckets: 1 << 13),
      CategoricalField(name: "campaign_id", role: .ad, buckets: 1 << 16),
      CategoricalField(name: "customer", role: .ad, buckets: 1 << 15),
      CategoricalField(name: "brand", role: .ad, buckets: 1 << 16),
      CategoricalField(name: "pid", role: .context, buckets: 8),
    ],
    numeric: [NumericField(name: "price", role: .ad, buckets: 8)],
    sequence: [
      SequenceField(name: "his_cate", sharesEmbeddingWith: "cate_id"),
      SequenceField(name: "his_brand", sharesEmbeddingWith: "brand"),
    ],
    maxSequenceLength: historyLength,
    embeddingDimension: 16)

  /// 2017-05-06T00:00:00+08:00.
  static let firstTime = Date(timeIntervalSince1970: 1_494_000_000)

  /// Positions of the columns a row is read from.
  struct Columns {
    var target: Int
    var uid: Int
    var price: Int
    /// The spec's categorical fields, in spec order.
    var categorical: [Int]
    var categories: [Int]
    var brands: [Int]
    var masks: [Int]
    var count: Int

    init(header: DelimitedHeader, file: String) throws {
      func indexed(_ prefix: String) -> [String] {
        (0..<TaobaoImporter.historyLength).map { prefix + ($0 < 10 ? "0" : "") + String($0) }
      }
      let fixed = ["target", "uid", "price"] + TaobaoImporter.spec.categorical.map(\.name)
      let positions = try header.positions(
        of: fixed + indexed("his_cate_") + indexed("his_brand_") + indexed("mask_"), file: file)
      target = positions[0]
      uid = positions[1]
      price = positions[2]
      let length = TaobaoImporter.historyLength
      var offset = 3
      categorical = Array(positions[offset..<offset + fixed.count - 3])
      offset += fixed.count - 3
      categories = Array(positions[offset..<offset + length])
      brands = Array(positions[offset + length..<offset + 2 * length])
      masks = Array(positions[offset + 2 * length..<offset + 3 * length])
      count = header.names.count
    }
  }

  /// Imports `file` in one transaction, replacing the data set's earlier rows of both splits, and
  /// inserts or updates the profiles of the users it contains.
  public static func importFile(
    _ connection: Connection, file: URL, dataset: String = defaultDataset, seed: UInt64 = 0
  ) throws -> ImportReport {
    let reader = try LineReader(url: file)
    guard let headerLine = try reader.next() else {
      throw ImportError(file: file.path, message: "empty file", fix: "expected a header line")
    }
    let columns = try Columns(
      header: DelimitedHeader(line: headerLine, separator: ","), file: file.path)

    return try ImportSession.run(
      connection: connection, dataset: dataset, file: file, splits: ["train", "test"]
    ) { session in
      try registerDataset(
        connection, name: dataset, spec: spec, validation: "split",
        source: "Taobao display ads (Tianchi 56), DMR layout \(file.lastPathComponent)", file: file)
      let users = UserProfileWriter(connection: connection, dataset: dataset)
      var row = 0
      while let line = try reader.next() {
        let outcome =
          reader.lastLineRejectReason.map { ParsedRow.rejected($0) }
          ?? parse(line, row: row, columns: columns, seed: seed, dataset: dataset)
        row += 1
        switch outcome {
        case .record(let record):
          try session.load(record)
          if let userId = record.userId {
            try users.append(userId: userId, profile: Array(record.cat[0..<profileFields.count]))
          }
        case .rejected(let reason):
          try session.reject(line: reader.lineNumber, reason: reason, rawLine: line)
        case .skipped(let reason): session.skip(reason: reason)
        }
      }
      try users.flush()
    }
  }

  /// Parses one data line; `row` numbers data rows from 0.
  static func parse(_ line: String, row: Int, columns: Columns, seed: UInt64, dataset: String)
    -> ParsedRow
  {
    guard !line.isEmpty else { return .rejected(RejectReason.emptyLine) }
    guard !line.utf8.contains(0) else { return .rejected(RejectReason.nulByte) }
    guard let fields = splitCSVLine(line) else { return .rejected(csvQuotingReason(line)) }
    guard fields.count == columns.count else { return .rejected(RejectReason.wrongColumnCount) }
    let label = fields[columns.target]
    guard !label.isEmpty else { return .rejected(RejectReason.missingLabel) }
    guard let click = parseClick(label) else { return .rejected(RejectReason.invalidLabel) }
    let price: Double?
    switch NumberField(fields[columns.price]) {
    case .missing: price = nil
    case .value(let value): price = value
    case .outOfRange: return .rejected(RejectReason.numberOutOfRange(in: "price"))
    case .invalid: return .rejected(RejectReason.nonNumericNumber(in: "price"))
    }
    guard !fields[columns.uid].isEmpty else { return .rejected(RejectReason.missingId) }
    guard let sequence = history(fields, columns: columns) else {
      return .rejected(RejectReason.invalidMask)
    }

    let categories: [String?] = columns.categorical.map {
      fields[$0].isEmpty ? nil : String(fields[$0])
    }
    let adStart = profileFields.count
    return .checkingIds(
      ImpressionRecord(
        dataset: dataset, time: firstTime.addingTimeInterval(Double(row)), requestId: "r\(row)",
        userId: String(fields[columns.uid]), adId: categories[adStart],
        campaignId: categories[adStart + 2], split: RowSplit.split(row: row, seed: seed),
        cat: categories, num: [price], seq: sequence, click: click))
  }

  /// Returns the real behaviour items as [cate, brand, cate, brand, ...], most recent first, or
  /// nil when a mask is neither 0 nor 1.
  ///
  /// Position 49 is the most recent behaviour: in the sample, every history shorter than 50 has
  /// its padding (mask 0, category 0) at positions 00.., and never at 49, so histories are
  /// written oldest first and right-aligned. Reading from 49 down gives the most recent first.
  static func history(_ fields: [Substring], columns: Columns) -> [String?]? {
    var items: [String?] = []
    for position in stride(from: historyLength - 1, through: 0, by: -1) {
      switch fields[columns.masks[position]] {
      case "1":
        let category = fields[columns.categories[position]]
        let brand = fields[columns.brands[position]]
        items.append(category.isEmpty ? nil : String(category))
        items.append(brand.isEmpty ? nil : String(brand))
      case "0": continue
      default: return nil
      }
    }
    return items
  }
}

/// Upserts user profiles into `adpilot.users` in batches; a later row's profile wins.
final class UserProfileWriter {
  private let connection: Connection
  private let dataset: String
  private var pending: [String: [String?]] = [:]
  private let batchSize = 1024

  init(connection: Connection, dataset: String) {
    self.connection = connection
    self.dataset = dataset
  }

  func append(userId: String, profile: [String?]) throws {
    pending[userId] = profile
    if pending.count >= batchSize {
      try flush()
    }
  }

  func flush() throws {
    for (userId, profile) in pending.sorted(by: { $0.key < $1.key }) {
      _ = try connection.execute(
        """
        INSERT INTO adpilot.users (dataset, user_id, profile)
        VALUES ($1, $2, $3)
        ON CONFLICT (dataset, user_id) DO UPDATE
        SET profile = EXCLUDED.profile
        """,
        [.text(dataset), .text(userId), .textArray(profile)])
    }
    pending.removeAll(keepingCapacity: true)
  }
}
