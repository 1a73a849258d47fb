// `adpilot requests` queues ad requests; `adpilot score` scores pending requests (or a query's
// rows) with the champion model into adpilot.ad_scores.

import AdPilot
import Foundation
import Postgres
import Synchronization

let requestsCommand = Command(
  name: "requests",
  summary: "queue logged impressions of a data set as ad requests to score",
  usage: "requests from-impressions --dataset NAME [--split train|test] [--limit N]",
  options: [
    .value("dataset", "NAME", "data set whose impressions become requests"),
    .value("split", "SPLIT", "only impressions of this split (train or test)"),
    .value(
      "limit", "N",
      "the first N impressions, earliest first; those already queued stay as they are "
        + "(default 10000)"),
  ],
  maxPositionals: 1,
  run: { parsed, context in
    guard parsed.positionals.first == "from-impressions" else {
      throw UsageError(message: "expected the action from-impressions")
    }
    let dataset = try required(parsed, "dataset")
    let split = parsed.value("split")
    if let split, split != "train", split != "test" {
      throw UsageError(message: "--split must be train or test, got '\(split)'")
    }
    let limit = try parsed.int("limit", default: 10_000)
    guard limit >= 1 else {
      throw UsageError(message: "--limit must be at least 1, got \(limit)")
    }
    let connection = try context.connect()
    defer { connection.close() }
    let job = ScoringJob(reader: connection, writer: connection, logger: context.logger)
    let queued = try job.queueRequests(fromImpressionsOf: dataset, split: split, limit: limit)
    context.print(queuedRequestsLine(queued, dataset: dataset, limit: limit))
  })

/// Returns the line that `requests from-impressions` prints for `queued`.
///
/// It suggests a higher --limit only when the selection reached `limit`, since with fewer
/// impressions selected every impression of the data set or split was already considered.
func queuedRequestsLine(_ queued: QueuedRequests, dataset: String, limit: Int) -> String {
  var line = "queued \(queued.added) requests of \(dataset)"
  guard queued.alreadyPresent > 0 else { return line }
  let selected = queued.added + queued.alreadyPresent
  let scope = selected < limit ? "all \(selected)" : "the first \(selected)"
  line +=
    "; left out \(queued.alreadyPresent) of \(scope) impressions, whose request and ad are "
    + "already in adpilot.ad_requests (queued, scored or set aside)"
  if selected >= limit {
    line += "; raise --limit to queue later impressions"
  }
  return line
}

let scoreCommand = Command(
  name: "score",
  summary: "score pending ad requests (or a query's rows) with the champion into ad_scores",
  usage: "score [--dataset NAME] [--query SQL] [--batch-size N]",
  options: [
    .value(
      "dataset", "NAME",
      "score this data set's requests (default: every data set with pending requests)"),
    .value(
      "query", "SQL",
      "score these rows instead; columns request_id, ad_id, cat_values, num_values, seq_values"),
    .value("batch-size", "N", "rows scored per batch, 1 to 1000000 (default 4096)"),
  ],
  run: { parsed, context in
    let query = parsed.value("query")
    guard query == nil || parsed.value("dataset") != nil else {
      throw UsageError(message: "--query needs --dataset")
    }
    if let query, ScoringJob.statementBody(query).isEmpty {
      throw UsageError(
        message: "--query is empty: give a SELECT with columns request_id, ad_id, cat_values, "
          + "num_values, seq_values")
    }
    let batchSize = try parsed.int("batch-size", default: 4096)
    guard (1...maximumScoringBatch).contains(batchSize) else {
      throw UsageError(
        message: "--batch-size must be 1 to \(maximumScoringBatch), got \(batchSize)")
    }
    let reader = try context.connect()
    defer { reader.close() }
    let writer = try context.connect()
    defer { writer.close() }
    let job = ScoringJob(reader: reader, writer: writer, logger: context.logger)
    var datasets: [String]
    if let dataset = parsed.value("dataset") {
      datasets = [dataset]
    } else {
      datasets = try job.pendingDatasets()
    }
    if datasets.isEmpty { context.print("no pending requests") }
    // Without --dataset, a data set that has no champion, or whose champion fails to load or
    // score, is reported and the others are still scored.
    var unscored: [String] = []
    var failures: [String] = []
    let registry = ModelRegistry(connection: reader)
    for dataset in datasets {
      if parsed.value("dataset") == nil, try registry.alias("champion", of: dataset) == nil {
        unscored.append(dataset)
        continue
      }
      let started = Date()
      let report: ScoreReport
      do {
        report = try job.run(dataset: dataset, query: query, batchSize: batchSize)
      } catch {
        guard parsed.value("dataset") == nil else { throw error }
        failures.append("data set '\(dataset)': \(error)")
        continue
      }
      let seconds = Date().timeIntervalSince(started)
      context.print(
        "scored \(report.scored) requests of \(dataset) with \(report.modelId) "
          + "(\(Int(Double(report.scored) / max(seconds, 1e-9))) rows/s)"
          + setAsideNote(report.rejected, firstReason: report.firstRejection))
      if query == nil, let held = try stillQueued(reader, dataset: dataset), held > 0 {
        context.print(
          "note: \(held) requests of \(dataset) are still queued: another session held them "
            + "(a worker, say), changed them (`adpilot generate` replaces the queue) or queued "
            + "them during this run; run `adpilot score` again to score them")
      }
    }
    var problems = failures
    if !unscored.isEmpty {
      problems.append(
        "no champion model for the pending requests of \(unscored.joined(separator: ", ")); "
          + "train one with `adpilot train --dataset NAME`, or delete those requests")
    }
    if !problems.isEmpty {
      throw PipelineError(problems.joined(separator: "\n"))
    }
  })

/// Returns how many requests of `dataset` have neither a score nor a reason for being set
/// aside.
func stillQueued(_ connection: Connection, dataset: String) throws -> Int64? {
  try connection.query(
    "SELECT count(*) FROM adpilot.ad_requests WHERE dataset = $1 AND scored_at IS NULL",
    [.text(dataset)]
  ).first?.int64(0)
}

let workerCommand = Command(
  name: "worker",
  summary: "score queued requests as they arrive (FOR UPDATE SKIP LOCKED, woken by NOTIFY)",
  usage: "worker --dataset NAME [--once | --seconds N] [--batch-size N] [--poll-seconds N]",
  options: [
    .value("dataset", "NAME", "score this data set's requests with its champion"),
    .flag("once", "score the requests queued before it started, then exit"),
    .value("seconds", "N", "run for N seconds, then exit (default: until stopped)"),
    .value("batch-size", "N", "requests claimed per transaction, 1 to 1000000 (default 1024)"),
    .value(
      "poll-seconds", "N",
      "look for work this often without a notification, 0.01 to 3600 (default 5)"),
  ],
  run: { parsed, context in
    let dataset = try required(parsed, "dataset")
    let batchSize = try parsed.int("batch-size", default: 1024)
    guard (1...maximumScoringBatch).contains(batchSize) else {
      throw UsageError(
        message: "--batch-size must be 1 to \(maximumScoringBatch), got \(batchSize)")
    }
    let pollInterval = try parsed.double("poll-seconds", default: 5)
    // Below 10 ms the worker would query the server without pause. Above an hour, requests whose
    // notification was lost would wait longer than a scoring job is expected to take.
    guard (0.01...3600).contains(pollInterval) else {
      throw UsageError(
        message: "--poll-seconds must be 0.01 to 3600 seconds, got "
          + "\(parsed.value("poll-seconds") ?? "")")
    }
    let once = parsed.flag("once")
    guard !once || parsed.value("seconds") == nil else {
      throw UsageError(message: "give either --once or --seconds, not both")
    }
    let seconds = try parsed.double("seconds", default: Double(Int32.max))
    guard seconds > 0 else {
      throw UsageError(message: "--seconds must be positive, got \(seconds)")
    }
    let connection = try context.connect()
    defer { connection.close() }
    var worker = ScoringWorker(connection: connection, logger: context.logger)
    worker.batchSize = batchSize
    worker.pollInterval = pollInterval
    let counts: WorkerCounts
    if once {
      counts = try worker.drain(dataset: dataset, queuedBeforeStart: true)
    } else {
      // A data set without a champion stops the worker before it reports having started.
      let champion = try ModelRegistry(connection: connection).championId(of: dataset)
      StopSignal.install()
      context.logger.info(
        "worker started",
        ["dataset": dataset, "model": champion, "batch_size": "\(worker.batchSize)"])
      counts = try worker.run(
        dataset: dataset, until: Date().addingTimeInterval(seconds),
        shouldStop: { StopSignal.received })
      if StopSignal.received {
        context.logger.info("worker stopped by a signal", ["scored": "\(counts.scored)"])
      }
    }
    context.print(
      "scored \(counts.scored) requests of \(dataset)"
        + setAsideNote(counts.rejected, firstReason: nil))
  })

/// The largest --batch-size of `score` and `worker`: a batch's encoded rows are held in memory,
/// and larger counts overflowed the size of that buffer.
let maximumScoringBatch = 1_000_000

/// The stop flag that SIGTERM and SIGINT set. The worker then finishes the batch in progress,
/// reports its count and exits normally instead of dying mid-wait.
enum StopSignal {
  private static let flag = Atomic<Bool>(false)

  /// Whether SIGTERM or SIGINT arrived since ``install()``.
  static var received: Bool { flag.load(ordering: .relaxed) }

  /// Replaces the default handlers of SIGTERM and SIGINT, which end the process at once.
  static func install() {
    for number in [SIGTERM, SIGINT] {
      signal(number) { _ in StopSignal.flag.store(true, ordering: .relaxed) }
    }
  }
}

/// Returns the clause that reports requests set aside, or "" when there were none.
func setAsideNote(_ count: Int, firstReason: String?) -> String {
  guard count > 0 else { return "" }
  let reason = firstReason.map { " (first: \($0))" } ?? ""
  return "; set aside \(count) whose feature arrays do not fit the model\(reason); "
    + "see rejected_reason in adpilot.ad_requests"
}
