// Imports a Criteo Display Advertising Challenge log (label, I1-I13, C1-C26) into data set
// `criteo`. The log has no time, user, ad or cost columns, so those stay empty and rows get
// times from a fixed clock.

import CTR
import Foundation
import Postgres

/// An importer of Criteo DAC logs: the published `train.txt` layout (tab-separated, no header)
/// or the same columns comma-separated under a `label,I1,...,C26` header.
///
/// Row r (0 for the first data row, counting rejected rows) gets the time
/// 2014-01-01T00:00:00Z + r seconds and the split `RowSplit.split(row: r, seed: seed)`.
/// Rows go to `request_id` "r<row>", with no user, ad, campaign or cost (0).
public enum CriteoImporter {
  public static let defaultDataset = "criteo"

  /// The feature spec: every field is a context field because Criteo does not say which fields
  /// describe the user or the ad, so a model over it runs as a plain DNN.
  /// I1-I13 are counts (some negative, up to 1.6 million in the sample). The encoder's numeric
  /// buckets grow by a factor of sqrt(2), so 48 buckets separate values up to about 6 million. C1-C26 are 32-bit hashes, hashed again into 2^14 buckets each: the 10k-row sample
  /// has at most 5,520 values in a field, and the full 45M-row log would share buckets.
  public static let spec = FeatureSpec(
    categorical: (1...26).map {
      CategoricalField(name: "C\($0)", role: .context, buckets: 1 << 14)
    },
    numeric: (1...13).map { NumericField(name: "I\($0)", role: .context, buckets: 48) },
    sequence: [],
    maxSequenceLength: 0,
    embeddingDimension: 16)

  static let columnCount = 40
  /// 2014-01-01T00:00:00Z.
  static let firstTime = Date(timeIntervalSince1970: 1_388_534_400)

  /// Imports `file` in one transaction, replacing the data set's earlier rows of both splits.
  public static func importFile(
    _ connection: Connection, file: URL, dataset: String = defaultDataset, seed: UInt64 = 0
  ) throws -> ImportReport {
    let reader = try LineReader(url: file)
    return try ImportSession.run(
      connection: connection, dataset: dataset, file: file, splits: ["train", "test"]
    ) { session in
      try registerDataset(
        connection, name: dataset, spec: spec, validation: "split",
        source: "Criteo Display Advertising Challenge log \(file.lastPathComponent), seed \(seed)",
        file: file)

      var separator: Character = "\t"
      var sawText = false
      var row = 0
      while let line = try reader.next() {
        // The first line that is not empty sets the separator, and is skipped when it is the header.
        if !sawText && !line.isEmpty {
          sawText = true
          separator = line.contains("\t") ? "\t" : ","
          // A header names a column "label", wherever it puts it.
          if DelimitedHeader(line: line, separator: separator).contains("label") {
            try checkHeader(line, separator: separator, file: file, line: reader.lineNumber)
            continue
          }
        }
        let outcome =
          reader.lastLineRejectReason.map { ParsedRow.rejected($0) }
          ?? parse(line, row: row, separator: separator, seed: seed, dataset: dataset)
        row += 1
        switch outcome {
        case .record(let record): try session.load(record)
        case .rejected(let reason):
          try session.reject(line: reader.lineNumber, reason: reason, rawLine: line)
        case .skipped(let reason): session.skip(reason: reason)
        }
      }
    }
  }

  /// The header of the CSV layout. Rows are read by position, so a header is checked against it.
  static let columns = ["label"] + (1...13).map { "I\($0)" } + (1...26).map { "C\($0)" }

  /// Throws when a header line names other columns than ``columns``, or the same in another
  /// order. Reading such a file by position would load other columns' values as the label and
  /// the features.
  static func checkHeader(_ header: String, separator: Character, file: URL, line: Int) throws {
    let names = DelimitedHeader(line: header, separator: separator).names
    guard names != columns else { return }
    let index = zip(names, columns).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    let problem =
      if let index {
        "column \(index + 1) is '\(names[index])' where the layout has '\(columns[index])'"
      } else {
        "it has \(names.count) columns where the layout has \(columns.count)"
      }
    throw ImportError(
      file: file.path, line: line,
      message: "the header does not match the Criteo layout: \(problem)",
      fix: "write the columns in the order label, I1-I13, C1-C26, as the Criteo DAC log has them")
  }

  /// Parses one data line; `row` numbers data rows from 0.
  static func parse(
    _ line: String, row: Int, separator: Character, seed: UInt64, dataset: String
  ) -> ParsedRow {
    guard !line.isEmpty else { return .rejected(RejectReason.emptyLine) }
    guard !line.utf8.contains(0) else { return .rejected(RejectReason.nulByte) }
    let split = separator == "," ? splitCSVLine(line) : splitFields(line, separator: separator)
    guard let fields = split else { return .rejected(csvQuotingReason(line)) }
    guard fields.count == columnCount else { return .rejected(RejectReason.wrongColumnCount) }
    guard !fields[0].isEmpty else { return .rejected(RejectReason.missingLabel) }
    guard let click = parseClick(fields[0]) else { return .rejected(RejectReason.invalidLabel) }

    var numbers: [Double?] = []
    numbers.reserveCapacity(13)
    for column in 1...13 {
      switch NumberField(fields[column]) {
      case .missing: numbers.append(nil)
      case .value(let value): numbers.append(value)
      case .outOfRange: return .rejected(RejectReason.numberOutOfRange(in: "I\(column)"))
      case .invalid: return .rejected(RejectReason.nonNumericNumber(in: "I\(column)"))
      }
    }
    let categories: [String?] = fields[14...].map { $0.isEmpty ? nil : String($0) }

    return .record(
      ImpressionRecord(
        dataset: dataset, time: firstTime.addingTimeInterval(Double(row)),
        requestId: "r\(row)", split: RowSplit.split(row: row, seed: seed), cat: categories,
        num: numbers, click: click))
  }
}

/// The outcome of parsing one log line.
enum ParsedRow {
  case record(ImpressionRecord)
  case rejected(String)
  case skipped(String)

  /// Returns `.record(record)`, or a rejection as `id too long` when an id of the record is
  /// longer than ``ImpressionRecord/maxIdBytes``.
  static func checkingIds(_ record: ImpressionRecord) -> ParsedRow {
    record.idsFit ? .record(record) : .rejected(RejectReason.idTooLong)
  }
}
