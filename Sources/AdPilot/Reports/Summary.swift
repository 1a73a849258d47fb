// A read-only report of what the database holds for a data set: logs, models, the current plan
// with its invariants checked (pacing adds up to each allocation, no allocation above its cap)
// and scored requests.

import Foundation
import Postgres

/// Returns the lines of the summary of `dataset`.
public func summaryLines(_ connection: Connection, dataset: String) throws -> [String] {
  let datasetInfo = try loadDataset(connection, name: dataset)
  var lines: [String] = []
  let logs = try connection.query(
    """
    SELECT count(*), coalesce(sum(click), 0), coalesce(sum(cost_micros), 0)::bigint,
           min(time)::text, max(time)::text
    FROM adpilot.impressions
    WHERE dataset = $1
    """, [.text(dataset)])[0]
  lines.append(
    "impressions: \(try logs.int64(0)) rows, \(try logs.int64(1)) clicks, cost "
      + "\(try logs.int64(2)) micros, from \(try logs.optionalString(3) ?? "-") "
      + "to \(try logs.optionalString(4) ?? "-")")
  let rejected = try connection.query(
    """
    SELECT reason, count(*)
    FROM adpilot.rejected_rows
    WHERE dataset = $1
    GROUP BY reason
    ORDER BY reason
    """, [.text(dataset)])
  for row in rejected {
    lines.append("rows set aside: \(try row.int64(1)) (\(try row.string(0)))")
  }

  let models = try connection.query(
    """
    SELECT m.name, count(*), a.model_id, round(c.validation_log_loss::numeric, 5)::text,
           round((c.metrics->>'auc')::numeric, 4)::text
    FROM adpilot.models m
    LEFT JOIN adpilot.model_aliases a ON a.name = m.name AND a.alias = 'champion'
    LEFT JOIN adpilot.models c ON c.id = a.model_id
    WHERE m.name = $1 OR m.hyperparameters->>'train_dataset' = $1
    GROUP BY m.name, a.model_id, c.validation_log_loss, c.metrics->>'auc'
    ORDER BY m.name <> $1, m.name
    """, [.text(dataset)])
  if models.isEmpty {
    lines.append(
      datasetInfo.hasFeatures
        ? "models: none registered; train one with `adpilot train --dataset \(dataset)`"
        : "models: none registered; the data set logs no features (it carries an outside "
          + "model's pCTR), so no model trains on it")
  }
  // Models trained on the data set under another `--model-name` get a line of their own.
  for row in models {
    let name = try row.string(0)
    lines.append(
      (name == dataset ? "models: " : "models named '\(name)': ")
        + "\(try row.int64(1)) registered; champion \(try row.optionalString(2) ?? "none") "
        + "(validation log loss \(try row.optionalString(3) ?? "-"), AUC \(try row.optionalString(4) ?? "-"))"
    )
  }
  if let note = try championLayoutNote(connection, dataset: dataset) {
    lines.append(note)
  }

  let plans = try connection.query(
    """
    SELECT r.id::text, r.plan_date::text, r.total_budget_micros, r.allocated_micros,
           (SELECT count(*) FROM adpilot.allocations a WHERE a.run_id = r.id),
           (SELECT count(*) FROM adpilot.allocations a
            WHERE a.run_id = r.id
              AND a.amount_micros <> (SELECT coalesce(sum(p.spend_micros), 0)
                                      FROM adpilot.pacing_plans p
                                      WHERE p.run_id = a.run_id AND p.campaign_id = a.campaign_id)),
           (SELECT count(*) FROM adpilot.allocations a WHERE a.run_id = r.id
              AND a.amount_micros > a.cap_micros),
           (SELECT count(*) FROM adpilot.pacing_plans p WHERE p.run_id = r.id),
           r.kind,
           (SELECT count(*) FROM adpilot.allocations a
            WHERE a.run_id = r.id AND a.amount_micros > 0)
    FROM adpilot.plan_runs r
    WHERE r.dataset = $1 AND r.status = 'current'
    ORDER BY r.plan_date, r.kind
    """, [.text(dataset)])
  // Plans and replans get a line each; a backtest's replayed days get one line together.
  var backtest:
    (
      days: Int, first: String, last: String, budget: Int64, allocated: Int64,
      differing: Int64, aboveCap: Int64
    )?
  for row in plans {
    let kind = try row.string(8)
    guard kind == "backtest" else {
      lines.append(
        "\(kind) \(try row.string(1)): budget \(try row.int64(2)) micros, allocated "
          + "\(try row.int64(3)) micros to \(try row.int64(9)) of \(try row.int64(4)) campaigns "
          + "in \(try row.int64(7)) "
          + "hourly rows; pacing sums differing from allocations: \(try row.int64(5)); "
          + "allocations above cap: \(try row.int64(6))")
      continue
    }
    let date = try row.string(1)
    var days = backtest ?? (0, date, "", 0, 0, 0, 0)
    days.days += 1
    days.last = date
    days.budget += try row.int64(2)
    days.allocated += try row.int64(3)
    days.differing += try row.int64(5)
    days.aboveCap += try row.int64(6)
    backtest = days
  }
  if let backtest {
    lines.append(
      "backtest: \(backtest.days) replayed \(backtest.days == 1 ? "day" : "days") from "
        + "\(backtest.first) to \(backtest.last), "
        + "budget \(backtest.budget) micros, allocated \(backtest.allocated) micros; pacing "
        + "sums differing from allocations: \(backtest.differing); allocations above cap: "
        + "\(backtest.aboveCap)")
  }

  // A request queued again keeps its earlier score until it is scored anew, so it counts as
  // queued, and its old score stays out of the mean.
  let scores = try connection.query(
    """
    SELECT count(*),
           count(*) FILTER (WHERE r.scored_at IS NULL),
           count(s.request_id) FILTER (WHERE r.scored_at IS NOT NULL),
           count(*) FILTER (WHERE r.scored_at IS NOT NULL AND r.rejected_reason IS NOT NULL),
           avg(s.score) FILTER (WHERE r.scored_at IS NOT NULL)
    FROM adpilot.ad_requests r
    LEFT JOIN adpilot.ad_scores s USING (dataset, request_id, ad_id)
    WHERE r.dataset = $1
    """, [.text(dataset)])[0]
  let meanScore = try scores.optionalDouble(4).map { String(format: "%.5f", $0) } ?? "-"
  lines.append(
    "ad requests: \(try scores.int64(0)), queued: \(try scores.int64(1)), "
      + "scored: \(try scores.int64(2)), set aside: \(try scores.int64(3)), "
      + "mean score \(meanScore)")
  return lines
}

/// Returns one line per loaded data set, by name: its impressions, its champion and its
/// requests still queued, under a header line.
public func datasetOverviewLines(_ connection: Connection) throws -> [String] {
  let rows = try connection.query(
    """
    SELECT d.name,
           (SELECT count(*) FROM adpilot.impressions i WHERE i.dataset = d.name),
           a.model_id,
           (SELECT count(*) FROM adpilot.ad_requests r
            WHERE r.dataset = d.name AND r.scored_at IS NULL)
    FROM adpilot.datasets d
    LEFT JOIN adpilot.model_aliases a ON a.name = d.name AND a.alias = 'champion'
    ORDER BY d.name
    """)
  guard !rows.isEmpty else {
    return ["no data sets loaded; load one with `adpilot import` or `adpilot generate`"]
  }
  var lines = ["data set                   impressions  queued  champion"]
  for row in rows {
    let name = try row.string(0)
    let impressions = String(try row.int64(1))
    let queued = String(try row.int64(3))
    lines.append(
      name.padding(toLength: max(26, name.count), withPad: " ", startingAt: 0) + " "
        + String(repeating: " ", count: max(0, 11 - impressions.count)) + impressions + "  "
        + String(repeating: " ", count: max(0, 6 - queued.count)) + queued + "  "
        + (try row.optionalString(2) ?? "none"))
  }
  return lines
}
