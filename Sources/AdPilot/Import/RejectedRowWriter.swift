// Writes rows an importer could not use into adpilot.rejected_rows, inside the caller's
// transaction. It stores the raw line and the reason; it does not decide what is rejected.

import Postgres

/// A row set aside by an importer: where it was, why, and its text.
public struct RejectedRow: Sendable, Equatable {
  public var dataset: String
  public var sourceFile: String
  public var lineNumber: Int
  public var reason: String
  public var rawLine: String

  public init(dataset: String, sourceFile: String, lineNumber: Int, reason: String, rawLine: String)
  {
    self.dataset = dataset
    self.sourceFile = sourceFile
    self.lineNumber = lineNumber
    self.reason = reason
    self.rawLine = rawLine
  }
}

/// A writer of `adpilot.rejected_rows` that copies in batches of bounded size: `batchSize`
/// rows, or fewer whose raw lines take ``maxPendingBytes``.
public final class RejectedRowWriter {
  public let batchSize: Int
  /// Rows copied so far.
  public private(set) var written = 0
  /// The UTF-8 bytes of raw lines that `append` buffers at most before it copies. A rejected
  /// line is kept up to 1 MiB, and 1,024 of them would otherwise take 1 GiB.
  public static let maxPendingBytes = 16 << 20

  private let connection: Connection
  /// The split of the import, stored with each row; nil when it loads both splits.
  private let split: String?
  private var pending: [RejectedRow] = []
  private var pendingBytes = 0

  private static let copySQL = """
    COPY adpilot.rejected_rows (dataset, source_file, line_number, reason, raw_line, split)
    FROM STDIN (FORMAT binary)
    """

  public init(connection: Connection, split: String? = nil, batchSize: Int = 1024) {
    self.connection = connection
    self.split = split
    self.batchSize = max(1, batchSize)
  }

  /// Buffers one row and copies the buffer when it contains `batchSize` rows or
  /// ``maxPendingBytes`` of raw lines.
  public func append(_ row: RejectedRow) throws {
    pending.append(row)
    pendingBytes += row.rawLine.utf8.count
    if pending.count >= batchSize || pendingBytes >= Self.maxPendingBytes {
      try flush()
    }
  }

  /// Copies the buffered rows.
  public func flush() throws {
    guard !pending.isEmpty else { return }
    let rows = pending
    _ = try connection.copyIn(Self.copySQL) { copy in
      for row in rows {
        copy.beginRow(6)
        copy.writeText(row.dataset)
        copy.writeText(row.sourceFile)
        copy.writeInt64(Int64(row.lineNumber))
        copy.writeText(row.reason)
        // PostgreSQL text cannot contain NUL bytes.
        copy.writeText(row.rawLine.replacingOccurrences(of: "\u{0}", with: ""))
        if let split { copy.writeText(split) } else { copy.writeNull() }
      }
    }
    written += rows.count
    pending.removeAll(keepingCapacity: true)
    pendingBytes = 0
  }
}
