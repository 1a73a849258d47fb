// Scores ad requests with a data set's champion model: reads the requests with binary COPY on
// one connection while a second connection streams the scores into a staging table, then moves
// them into adpilot.ad_scores in the same transaction. Memory stays flat in the number of rows.

import CTR
import Foundation
import Postgres

/// The outcome of a scoring run.
public struct ScoreReport: Sendable {
  public var dataset: String
  public var modelId: String
  public var scored: Int
  /// Queued requests set aside unscored because their feature arrays do not fit the model,
  /// each marked with its reason in `adpilot.ad_requests.rejected_reason`.
  public var rejected = 0
  /// The reason of the first request set aside, or nil when none was.
  public var firstRejection: String?
}

/// The outcome of queuing logged impressions as ad requests.
public struct QueuedRequests: Sendable, Equatable {
  /// Requests added to adpilot.ad_requests.
  public var added: Int
  /// Selected impressions left out because their request and ad already had a row in
  /// adpilot.ad_requests (queued, scored or set aside), or came twice in the selection.
  public var alreadyPresent: Int
}

/// The feature arrays of one request, read from columns 2 to 4 of a scoring COPY.
struct RequestFeatures {
  var cat: [String?]
  var num: [Double?]
  var seq: [String?]

  /// Why a model cannot score a request: an array that is not one-dimensional, or arrays whose
  /// lengths do not fit the model's spec.
  struct Unscorable: Error {
    var reason: String
  }

  /// Reads the arrays of `row` and checks them against `spec`, or returns why a model of that
  /// spec cannot score them.
  static func read(_ row: borrowing BinaryCopyRow, spec: FeatureSpec, modelId: String)
    -> Result<RequestFeatures, Unscorable>
  {
    var field = 2
    do {
      let cat = try row.textArray(2)
      field = 3
      let num = try row.float8Array(3)
      field = 4
      let seq = try row.textArray(4)
      if let reason = featureShapeMismatch(
        spec, cat: cat, num: num, seq: seq, modelId: modelId)
      {
        return .failure(Unscorable(reason: reason))
      }
      return .success(RequestFeatures(cat: cat, num: num, seq: seq))
    } catch {
      let columns = ["cat_values", "num_values", "seq_values"]
      var detail = Substring(error.message)
      if detail.hasPrefix("COPY field \(field): ") {
        detail = detail.dropFirst("COPY field \(field): ".count)
      }
      return .failure(
        Unscorable(
          reason: "\(columns[field - 2]) cannot be read (\(detail)); store a one-dimensional "
            + "array, text[] for cat_values and seq_values and float8[] for num_values"))
    }
  }
}

/// Returns why a row's feature arrays cannot be scored by a model of `spec`, or nil when their
/// lengths fit it.
///
/// The encoder itself tolerates short and long arrays, so rows of another data set's layout
/// would otherwise be scored silently with the wrong fields.
func featureShapeMismatch(
  _ spec: FeatureSpec, cat: [String?], num: [Double?], seq: [String?], modelId: String
) -> String? {
  let subfields = spec.sequence.count
  let sequenceFits = subfields == 0 ? seq.isEmpty : seq.count % subfields == 0
  guard cat.count == spec.categorical.count, num.count == spec.numeric.count, sequenceFits
  else {
    let sequence = subfields == 0 ? "no" : "a multiple of \(subfields)"
    return "feature arrays have \(cat.count) categorical, \(num.count) numeric and "
      + "\(seq.count) sequence values, but model \(modelId) expects "
      + "\(spec.categorical.count) categorical, \(spec.numeric.count) numeric and \(sequence) "
      + "sequence values; " + layoutFix.queue
  }
  return nil
}

/// Returns the error for scoring the rows of `dataset` with its champion `modelId`, whose
/// feature spec is `spec`, when the data set has another spec now, or nil when the specs are
/// equal or no data set has that name.
///
/// An import can give a data set a new layout while its champion keeps the old one. Arrays of
/// the new layout can have the lengths that the old spec expects (the synthetic and iPinYou
/// layouts both have 16 categorical values), and the champion would then score them as other
/// fields.
func championLayoutMismatch(
  _ connection: Connection, dataset: String, modelId: String, spec: FeatureSpec
) throws -> PipelineError? {
  let exists = try connection.query(
    "SELECT 1 FROM adpilot.datasets WHERE name = $1", [.text(dataset)])
  guard !exists.isEmpty else { return nil }
  let current = try loadDataset(connection, name: dataset).spec
  guard
    let difference = TrainingPipeline.specDifference(
      spec, current, labels: ("in the champion", "in the data set"))
  else { return nil }
  return PipelineError(
    "champion \(modelId) of '\(dataset)' was trained on another feature spec than the data set "
      + "has now: \(difference); train it again with `adpilot train --dataset \(dataset)`, "
      + "which replaces that champion, or promote a model of the current layout with "
      + "`adpilot models promote MODEL_ID --reason TEXT`")
}

/// The fixes a feature-shape mismatch names: for a queued request, and for a row of a caller's
/// scoring query.
let layoutFix = (
  queue: "queue rows in the layout of its feature spec, or make a model of this layout the "
    + "champion with `adpilot models promote`",
  query: "return rows in the layout of its feature spec, or score with a model of this layout"
)

/// Scores pending requests, or the rows of a caller's query, into adpilot.ad_scores.
public struct ScoringJob {
  let reader: Connection
  let writer: Connection
  let logger: Logger
  /// Runs after the rows are read and scored and before the scores are written (tests change
  /// queued requests here).
  var afterRowsRead: (() throws -> Void)?

  /// Creates a job that reads with `reader` and writes with `writer` (two connections).
  public init(reader: Connection, writer: Connection, logger: Logger) {
    self.reader = reader
    self.writer = writer
    self.logger = logger
  }

  /// Returns the data sets that have requests without a score.
  public func pendingDatasets() throws -> [String] {
    try reader.query(
      """
      SELECT DISTINCT dataset
      FROM adpilot.ad_requests
      WHERE scored_at IS NULL
      ORDER BY 1
      """
    ).map { try $0.string(0) }
  }

  /// Scores the requests of `dataset` that have no score yet, or the rows `query` returns.
  ///
  /// `query` must return columns named request_id, ad_id, cat_values, num_values and
  /// seq_values, in any order and with any extra columns. It runs in a read-only transaction,
  /// and its rows replace any earlier score of the same request and ad.
  ///
  /// Once the scores commit, it runs ANALYZE on each of ad_scores and ad_requests whose changed
  /// rows reach the bounds of ``analyzeAfterBulkWrite(_:table:changedRows:logger:)``.
  public func run(dataset: String, query: String? = nil, batchSize: Int = 4096) throws
    -> ScoreReport
  {
    guard
      let champion = try ModelRegistry(connection: reader).champion(of: dataset)
    else {
      throw try ModelRegistry(connection: reader).missingChampion(dataset)
    }
    let model = champion.model
    if let mismatch = try championLayoutMismatch(
      reader, dataset: dataset, modelId: champion.record.id, spec: model.spec)
    {
      throw mismatch
    }
    let encoder = FeatureEncoder(spec: model.spec)

    let source: String
    if let query {
      // Selecting by name, with casts, makes PostgreSQL name a missing or unconvertible
      // column. The query gets lines of its own, so that a trailing -- comment ends there.
      let body = Self.statementBody(query)
      source = """
        SELECT request_id::text, ad_id::text, cat_values::text[], num_values::float8[],
               seq_values::text[]
        FROM (
        \(body)
        ) AS scoring_query
        """
    } else {
      try setCopyParameters(reader, ["dataset": dataset])
      // The row version (xmin) lets the write skip requests replaced after this read.
      source = """
        SELECT r.request_id, r.ad_id, r.cat_values, r.num_values, r.seq_values, r.xmin::text
        FROM adpilot.ad_requests r
        WHERE r.dataset = current_setting('adpilot.copy_dataset') AND r.scored_at IS NULL
        ORDER BY r.request_id, r.ad_id
        """
    }

    var requestsMarked = 0
    let report = try writer.transaction {
      _ = try writer.execute(
        """
        CREATE TEMPORARY TABLE score_staging (
            request_id text NOT NULL, ad_id text NOT NULL, score real NOT NULL,
            request_xmin text
        ) ON COMMIT DROP
        """)
      var scored = 0
      var rejected: [(requestId: String, adId: String, reason: String)] = []
      var rejectedVersions: [String?] = []
      _ = try writer.copyIn(
        "COPY score_staging (request_id, ad_id, score, request_xmin) FROM STDIN (FORMAT binary)"
      ) { output in
        var keys: [(requestId: String, adId: String, version: String?)] = []
        keys.reserveCapacity(batchSize)
        var batch = EncodedBatch(spec: model.spec, capacity: batchSize)

        func flush(_ output: inout BinaryCopyWriter) {
          guard batch.count > 0 else { return }
          let scores = model.predict(batch, threads: ProcessInfo.processInfo.activeProcessorCount)
          for (key, score) in zip(keys, scores) {
            output.beginRow(4)
            output.writeText(key.requestId)
            output.writeText(key.adId)
            output.writeFloat4(score)
            if let version = key.version {
              output.writeText(version)
            } else {
              output.writeNull()
            }
          }
          scored += batch.count
          keys.removeAll(keepingCapacity: true)
          batch.removeAll()
        }

        // Both sources select these five columns in this order. The queue's source adds the
        // row version as a sixth column.
        func readRow(_ row: BinaryCopyRow) throws {
          let names = ["request_id", "ad_id", "cat_values", "num_values", "seq_values"]
          for (index, name) in names.enumerated() where row.isNull(index) {
            var key = index > 0 && !row.isNull(0) ? " for request '\(try row.text(0))'" : ""
            if index > 1 && !row.isNull(1) { key += ", ad '\(try row.text(1))'" }
            let example = index < 2 ? "a text id" : "'{}' for an empty array"
            throw PipelineError(
              "the scoring query returned NULL in column \(name)\(key); return a value in "
                + "every row, such as \(example)")
          }
          let requestId = try row.text(0)
          let adId = try row.text(1)
          let version = query == nil ? try row.text(5) : nil
          switch RequestFeatures.read(row, spec: model.spec, modelId: champion.record.id) {
          case .failure(let problem):
            // A caller's query is fixed by its caller. A queued request is set aside, so that
            // one bad request does not hold back the rest of the queue.
            guard query == nil else {
              let reason = problem.reason.replacingOccurrences(
                of: layoutFix.queue, with: layoutFix.query)
              throw PipelineError("request '\(requestId)', ad '\(adId)': \(reason)")
            }
            rejected.append((requestId, adId, problem.reason))
            rejectedVersions.append(version)
            return
          case .success(let features):
            keys.append((requestId, adId, version))
            encoder.append(
              cat: features.cat, num: features.num, seq: features.seq, label: 0, to: &batch)
          }
          if batch.count == batchSize { flush(&output) }
        }

        func read() throws {
          _ = try reader.copyOut("COPY (\(source)) TO STDOUT (FORMAT binary)") { row in
            try readRow(row)
          }
        }

        if query != nil {
          // A caller's query only reads, so a data-modifying one fails instead of committing.
          do {
            try reader.transaction {
              _ = try reader.execute("SET TRANSACTION READ ONLY")
              try read()
            }
          } catch let error as PostgresError {
            throw Self.queryFailure(error)
          }
        } else {
          try read()
        }
        flush(&output)
      }
      try afterRowsRead?()
      do {
        if query == nil {
          // With the default 4 MB, the statement's hash joins of 316,000 staged scores went
          // through temporary files in 4 and 8 batches.
          _ = try writer.execute(Self.raiseWorkMemory)
          scored = try writer.execute(
            Self.writeQueuedScores,
            [
              .text(champion.record.id), .text(dataset),
            ])
          requestsMarked = scored
        } else {
          _ = try writer.execute(
            """
            INSERT INTO adpilot.ad_scores (dataset, request_id, ad_id, model_id, score)
            SELECT $2, request_id, ad_id, $1, score
            FROM score_staging
            ON CONFLICT (dataset, request_id, ad_id) DO UPDATE
            SET model_id = excluded.model_id, score = excluded.score, scored_at = now()
            """, [.text(champion.record.id), .text(dataset)])
          // The worker marks its claims the same way, so neither path scores a request twice.
          requestsMarked = try writer.execute(
            """
            UPDATE adpilot.ad_requests r SET scored_at = now(), rejected_reason = NULL
            FROM score_staging s
            WHERE r.dataset = $1 AND r.request_id = s.request_id AND r.ad_id = s.ad_id
              AND r.scored_at IS NULL
            """, [.text(dataset)])
        }
      } catch let error as PostgresError where error.sqlState == "21000" {
        // ON CONFLICT DO UPDATE cannot update one row twice in a statement.
        throw PipelineError(
          "the scoring query returned a request_id and ad_id pair more than once; return each "
            + "pair once, for example with SELECT DISTINCT ON (request_id, ad_id)")
      }
      logger.debug("scores written", ["rows": "\(scored)", "model": champion.record.id])
      let setAsideCount = try setAside(
        rejected, versions: rejectedVersions, dataset: dataset, connection: writer,
        logger: logger)
      var report = ScoreReport(dataset: dataset, modelId: champion.record.id, scored: scored)
      report.rejected = setAsideCount
      report.firstRejection = rejected.first?.reason
      return report
    }
    analyzeAfterBulkWrite(writer, table: .adScores, changedRows: report.scored, logger: logger)
    analyzeAfterBulkWrite(
      writer, table: .adRequests, changedRows: requestsMarked + report.rejected, logger: logger)
    return report
  }

  /// Returns `query` without the semicolons, whitespace and comments after its last token,
  /// which would otherwise end the wrapping subquery early.
  ///
  /// It reads the query as PostgreSQL's lexer does: quoted strings (with `E'...'` backslash
  /// escapes), quoted identifiers, dollar-quoted strings, `--` comments and nested `/* */`
  /// comments, so a semicolon or comment marker inside any of them stays. An unterminated one
  /// keeps the rest of the query, for PostgreSQL to report.
  public static func statementBody(_ query: String) -> String {
    let bytes = Array(query.utf8)
    let count = bytes.count
    var end = 0
    var index = 0

    func isIdentifier(_ byte: UInt8) -> Bool {
      byte == UInt8(ascii: "_") || byte >= 0x80
        || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
    /// Returns the index after the quote that closes the quoted token opening at `start`, or
    /// `count` when none does. A doubled quote is a literal quote.
    func closingQuote(from start: Int, backslashEscapes: Bool) -> Int {
      let quote = bytes[start]
      var position = start + 1
      while position < count {
        if backslashEscapes && bytes[position] == UInt8(ascii: "\\") {
          position += 2
        } else if bytes[position] == quote {
          if position + 1 < count && bytes[position + 1] == quote {
            position += 2
          } else {
            return position + 1
          }
        } else {
          position += 1
        }
      }
      return count
    }
    /// Returns the length of the `$tag$` delimiter at `start`, or nil when there is none.
    func dollarTag(at start: Int) -> Int? {
      var position = start + 1
      if position < count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
        return nil
      }
      while position < count && bytes[position] != UInt8(ascii: "$") {
        guard isIdentifier(bytes[position]) else { return nil }
        position += 1
      }
      return position < count ? position + 1 - start : nil
    }

    while index < count {
      let byte = bytes[index]
      let next = index + 1 < count ? bytes[index + 1] : 0
      switch byte {
      case UInt8(ascii: "-") where next == UInt8(ascii: "-"):
        // As in PostgreSQL's lexer, a carriage return ends the comment as well as a newline.
        while index < count && bytes[index] != UInt8(ascii: "\n")
          && bytes[index] != UInt8(ascii: "\r")
        {
          index += 1
        }
      case UInt8(ascii: "/") where next == UInt8(ascii: "*"):
        var depth = 0
        repeat {
          if index + 1 < count && bytes[index] == UInt8(ascii: "/")
            && bytes[index + 1] == UInt8(ascii: "*")
          {
            depth += 1
            index += 2
          } else if index + 1 < count && bytes[index] == UInt8(ascii: "*")
            && bytes[index + 1] == UInt8(ascii: "/")
          {
            depth -= 1
            index += 2
          } else {
            index += 1
          }
        } while depth > 0 && index < count
        if depth > 0 { end = count }
      case UInt8(ascii: "'"), UInt8(ascii: "\""):
        let escaped =
          byte == UInt8(ascii: "'") && index > 0 && (bytes[index - 1] | 0x20) == UInt8(ascii: "e")
          && (index < 2 || !isIdentifier(bytes[index - 2]))
        index = closingQuote(from: index, backslashEscapes: escaped)
        end = index
      case UInt8(ascii: "$") where index == 0 || !isIdentifier(bytes[index - 1]):
        guard let length = dollarTag(at: index) else {
          index += 1
          end = index
          break
        }
        let tag = bytes[index..<(index + length)]
        index += length
        while index < count && !bytes[index...].starts(with: tag) { index += 1 }
        index = min(count, index + length)
        end = index
      case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"),
        UInt8(ascii: "\r"), 0x0B, 0x0C:
        index += 1
      default:
        index += 1
        end = index
      }
    }
    return String(decoding: bytes[..<end], as: UTF8.self)
  }

  /// Raises `work_mem` to 128 MB for the rest of the transaction, unless it is set higher.
  static let raiseWorkMemory = """
    SELECT set_config('work_mem', '128MB', true)
    WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('128MB')
    """

  /// Writes the staged scores of queued requests ($1: model id, $2: data set) and returns how
  /// many it wrote.
  ///
  /// It first locks the requests, skipping those a worker holds, and writes scores only for the
  /// ones it locked and marks them. A worker locks its claims before it writes their scores
  /// too, so neither writes a score for a request the other holds. A request a worker finished
  /// meanwhile (scored_at set) keeps the worker's score. A request whose row version differs
  /// from the one read (replaced by `adpilot generate`, or updated) stays queued, because its
  /// score came from the features it had before. The update finds each locked row by its
  /// `ctid`, which a row keeps while it is locked, rather than by a second primary-key lookup.
  static let writeQueuedScores = """
    WITH locked AS (
        SELECT r.ctid AS row_address, r.request_id, r.ad_id
        FROM adpilot.ad_requests r
        JOIN score_staging s ON s.request_id = r.request_id AND s.ad_id = r.ad_id
        WHERE r.dataset = $2 AND r.scored_at IS NULL AND r.xmin = s.request_xmin::xid
        FOR UPDATE OF r SKIP LOCKED
    ), marked AS (
        UPDATE adpilot.ad_requests r SET scored_at = now(), rejected_reason = NULL
        FROM locked l
        WHERE r.ctid = l.row_address
    )
    INSERT INTO adpilot.ad_scores (dataset, request_id, ad_id, model_id, score)
    SELECT $2, s.request_id, s.ad_id, $1, s.score
    FROM score_staging s JOIN locked l USING (request_id, ad_id)
    ON CONFLICT (dataset, request_id, ad_id) DO UPDATE
    SET model_id = excluded.model_id, score = excluded.score, scored_at = now()
    """

  /// Returns the error for a caller's scoring query that PostgreSQL rejected or whose rows could
  /// not be read, with the fix for its kind of failure.
  static func queryFailure(_ error: PostgresError) -> PipelineError {
    let fix: String
    switch error.sqlState {
    case "42703":
      fix =
        "name its columns request_id, ad_id, cat_values, num_values and seq_values (with AS "
        + "where needed)"
    case "42601":
      fix =
        "it runs as a subquery inside COPY, so give one SELECT statement, and run it alone in "
        + "psql to see where it fails"
    case "25006":
      fix = "it runs read-only, so it may select rows but never change them"
    case "22P02", "22003", "42846":
      // The casts of the five columns raise these too, as the query's own expressions can.
      fix =
        "check the query's own casts and literals, and return cat_values and seq_values as "
        + "text[] and num_values as float8[]"
    default:
      fix =
        error.kind == .decode
        ? "return text for request_id and ad_id and one-dimensional arrays for the features"
        : "run it alone in psql to see where it fails"
    }
    return PipelineError("the scoring query failed: \(error.message); \(fix)")
  }

  /// Queues the first `limit` impressions of `dataset` (one split, or all) as ad requests to
  /// score, in time order.
  ///
  /// Impressions whose request and ad already have a row in ad_requests (queued, scored or set
  /// aside) are left as they are and counted. It throws when the data set, or the split, has
  /// no impressions. It runs ANALYZE on ad_requests when the rows added reach the bounds of
  /// ``analyzeAfterBulkWrite(_:table:changedRows:logger:)``.
  public func queueRequests(fromImpressionsOf dataset: String, split: String?, limit: Int)
    throws -> QueuedRequests
  {
    let info = try loadDataset(writer, name: dataset)
    guard info.hasFeatures else {
      throw PipelineError(
        "data set '\(dataset)' logs no features (it carries an outside model's pCTR), so no "
          + "model can score its requests; queue requests of a data set with features")
    }
    let counts = try writer.query(
      """
      WITH selected AS (
          SELECT request_id, coalesce(ad_id, '') AS ad_id, dataset, time, user_id, campaign_id,
                 cat_values, num_values, seq_values
          FROM adpilot.impressions
          WHERE dataset = $1 AND ($2::text IS NULL OR split = $2)
          ORDER BY time, request_id, ad_id
          LIMIT $3
      ), added AS (
          INSERT INTO adpilot.ad_requests
              (request_id, ad_id, dataset, time, user_id, campaign_id, cat_values, num_values,
               seq_values)
          SELECT request_id, ad_id, dataset, time, user_id, campaign_id, cat_values, num_values,
                 seq_values
          FROM selected
          ON CONFLICT (dataset, request_id, ad_id) DO NOTHING
          RETURNING 1
      )
      SELECT (SELECT count(*) FROM selected), (SELECT count(*) FROM added)
      """, [.text(dataset), split.map(PostgresValue.text) ?? .null, .int64(Int64(limit))])[0]
    let selected = Int(try counts.int64(0))
    let added = Int(try counts.int64(1))
    guard selected > 0 else {
      let scope = split.map { "in split '\($0)'" } ?? "at all"
      let fix =
        split == nil
        ? "load them with `adpilot import` or `adpilot generate`"
        : "leave out --split to queue every split, or load that split with `adpilot import`"
      throw PipelineError("data set '\(dataset)' has no impressions \(scope); \(fix)")
    }
    analyzeAfterBulkWrite(writer, table: .adRequests, changedRows: added, logger: logger)
    return QueuedRequests(added: added, alreadyPresent: selected - added)
  }
}

/// Marks queued requests that cannot be scored as done without a score, each with its reason,
/// deletes any score an earlier queuing of them left, and logs one warning with their count and
/// the first reason. Requests that another transaction has locked (a worker's claim) or marked
/// done meanwhile are left to it, so that each is counted once. A request whose row version
/// (xmin) differs from its entry in `versions` stays queued too, because its features may have
/// changed since they were checked. Returns how many it marked.
func setAside(
  _ rejected: [(requestId: String, adId: String, reason: String)], versions: [String?]? = nil,
  dataset: String, connection: Connection, logger: Logger
) throws -> Int {
  guard let first = rejected.first else { return 0 }
  // Its old score goes too, because that score came from features the request no longer has.
  let marked = try connection.query(
    """
    WITH locked AS (
        SELECT r.request_id, r.ad_id, t.reason
        FROM adpilot.ad_requests r
        JOIN unnest($1::text[], $2::text[], $3::text[], $5::text[])
            AS t(request_id, ad_id, reason, request_xmin)
          ON r.request_id = t.request_id AND r.ad_id = t.ad_id
        WHERE r.dataset = $4 AND r.scored_at IS NULL
          AND (t.request_xmin IS NULL OR r.xmin = t.request_xmin::xid)
        FOR UPDATE OF r SKIP LOCKED
    ), marked AS (
        UPDATE adpilot.ad_requests r SET scored_at = now(), rejected_reason = l.reason
        FROM locked l
        WHERE r.dataset = $4 AND r.request_id = l.request_id AND r.ad_id = l.ad_id
        RETURNING r.request_id, r.ad_id
    ), unscored AS (
        DELETE FROM adpilot.ad_scores s
        USING marked m
        WHERE s.dataset = $4 AND s.request_id = m.request_id AND s.ad_id = m.ad_id
    )
    SELECT count(*) FROM marked
    """,
    [
      .textArray(rejected.map { $0.requestId }), .textArray(rejected.map { $0.adId }),
      .textArray(rejected.map { $0.reason }), .text(dataset),
      .textArray(versions ?? Array(repeating: nil, count: rejected.count)),
    ])[0].int64(0)
  guard marked > 0 else { return 0 }
  logger.warning(
    "requests set aside unscored; see adpilot.ad_requests.rejected_reason",
    [
      "requests": "\(marked)", "first_request": first.requestId,
      "first_ad": first.adId, "reason": first.reason,
    ])
  return Int(marked)
}
