// `adpilot backtest` replays a data set's logged days under budgets of a fraction of each day's
// logged cost and prints AdPilot's plan next to the baselines and the hindsight optimum.

import AdPilot
import Foundation

let backtestCommand = Command(
  name: "backtest",
  summary: "replay logged days through forecast, allocate and re-plan against baselines",
  usage:
    "backtest --dataset NAME [--budget-fraction F] [--days N] [--warm-up-days N] "
    + "[--history-days N] [--hour-slack X] [--reserve F]",
  options: [
    .value("dataset", "NAME", "data set with logged pCTR to replay, e.g. ipinyou_rlb"),
    .value(
      "budget-fraction", "F",
      "each day's budget as a fraction of its logged cost (default: 1/2 ... 1/32)"),
    .value("days", "N", "days replayed after the warm-up days (default: all)"),
    .value(
      "warm-up-days", "N", "logged days used as history only before the first replay (default 1)"),
    .value(
      "history-days", "N", "days before each replayed day to forecast from, 1 to 366 (default 7)"),
    .value(
      "hour-slack", "X",
      "cap each hour at X times its planned spend (default: no cap; 1 = strict)"),
    .value(
      "reserve", "F",
      "share of each day's budget kept for impressions worth 5x the threshold (default 0.01)"),
  ],
  run: { parsed, context in
    var options = BacktestOptions(dataset: try required(parsed, "dataset"))
    let single = parsed.value("budget-fraction")
    if let single {
      options.fractions = [try parseFraction(single)]
    }
    if parsed.value("days") != nil {
      let days = try parsed.int("days", default: 1)
      guard days >= 1 else { throw UsageError(message: "--days must be at least 1, got \(days)") }
      options.days = days
    }
    options.historyDays = try parsed.int("history-days", default: options.historyDays)
    guard (1...366).contains(options.historyDays) else {
      throw UsageError(
        message: "--history-days must be between 1 and 366, got \(options.historyDays)")
    }
    options.warmUpDays = try parsed.int("warm-up-days", default: options.warmUpDays)
    guard options.warmUpDays >= 1 else {
      throw UsageError(message: "--warm-up-days must be at least 1, got \(options.warmUpDays)")
    }
    if parsed.value("hour-slack") != nil {
      let slack = try parsed.double("hour-slack", default: 1)
      guard slack >= 1 else {
        throw UsageError(message: "--hour-slack must be at least 1, got \(slack)")
      }
      options.hourSlack = slack
    }
    options.reserveFraction = try parsed.double("reserve", default: options.reserveFraction)
    guard options.reserveFraction >= 0 && options.reserveFraction < 1 else {
      throw UsageError(
        message: "--reserve must be in [0, 1), got \(options.reserveFraction); try 0.01")
    }

    let connection = try context.connect()
    defer { connection.close() }
    let started = Date()
    let report = try Backtest(connection: connection, logger: context.logger).run(options)
    printBacktest(report, context)
    context.logger.info(
      "backtest done", ["seconds": String(format: "%.1f", Date().timeIntervalSince(started))])
    if single != nil, let fraction = report.fractions.first,
      let figures = fraction.policies["adpilot"]
    {
      context.print(
        "r_over_rstar=" + String(format: "%.4f", figures.meanRatio) + " r_over_rstar_min="
          + String(format: "%.4f", figures.minRatio) + " overdelivery="
          + money(figures.overDeliveryMicros) + " pacing_error="
          + String(format: "%.4f", figures.meanPacingError ?? 0))
    }
  })

/// Parses a budget fraction written as a decimal (0.125) or a ratio (1/8).
func parseFraction(_ text: String) throws -> Double {
  let parts = text.split(separator: "/")
  var value: Double?
  if parts.count == 2, let top = Double(parts[0]), let bottom = Double(parts[1]), bottom != 0 {
    value = top / bottom
  } else if parts.count == 1 {
    value = Double(text)
  }
  guard let value, value > 0, value <= 1 else {
    throw UsageError(
      message: "invalid --budget-fraction '\(text)'; give a number in (0, 1] such as 0.25 or 1/4")
  }
  return value
}

/// Prints one table per budget fraction: each policy's totals and its ratio to the optimum.
func printBacktest(_ report: BacktestReport, _ context: Context) {
  let first = report.dates.first ?? "-"
  let last = report.dates.last ?? "-"
  context.print(
    "backtest of \(report.dataset): \(report.dates.count) days, \(first) to \(last)"
      + (report.skippedRows > 0 ? ", \(report.skippedRows) rows without pCTR left out" : ""))
  for fraction in report.fractions {
    context.print()
    context.print(
      "budget " + String(format: "%.4g", fraction.fraction) + " of each day's logged cost: "
        + "\(money(fraction.budgetMicros)) in all, hindsight optimum value "
        + money(approximately: fraction.optimumValueMicros))
    context.print(
      rightPad("policy", 20) + leftPad("value", 12) + leftPad("clicks", 8) + leftPad("spend", 12)
        + leftPad("over", 10) + leftPad("pacing err", 12) + leftPad("R/R* mean", 11)
        + leftPad("R/R* min", 10))
    for name in Backtest.policies {
      guard let figures = fraction.policies[name] else { continue }
      context.print(
        rightPad(name, 20) + leftPad(money(approximately: figures.valueMicros), 12)
          + leftPad("\(figures.clicks)", 8) + leftPad(money(figures.spendMicros), 12)
          + leftPad(money(figures.overDeliveryMicros), 10)
          + leftPad(figures.meanPacingError.map { String(format: "%.3f", $0) } ?? "-", 12)
          + leftPad(String(format: "%.4f", figures.meanRatio), 11)
          + leftPad(String(format: "%.4f", figures.minRatio), 10))
    }
  }
}
