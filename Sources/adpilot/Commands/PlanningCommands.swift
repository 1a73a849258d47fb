// `adpilot campaigns` validates and syncs campaign files; `adpilot allocate` plans a day's
// budget split and hourly pacing and prints the allocation table. `adpilot explain` prints why
// each campaign of a stored plan got its amount.

import AdPilot
import Allocation
import Foundation

let campaignsCommand = Command(
  name: "campaigns",
  summary: "validate campaigns/*/*.json, or sync them into adpilot.campaigns",
  usage: "campaigns validate|sync [--dir PATH]",
  options: [
    .value(
      "dir", "PATH",
      "folder with one folder of campaign files per data set (default: campaigns/ in the "
        + "checkout)")
  ],
  maxPositionals: 1,
  run: { parsed, context in
    guard let action = parsed.positionals.first else {
      throw UsageError(message: "missing action: expected validate or sync")
    }
    guard action == "validate" || action == "sync" else {
      throw UsageError(message: "unknown action '\(action)': expected validate or sync")
    }
    let directory = try campaignDirectory(parsed)
    if action == "validate" {
      let found = try validateCampaignDirectory(directory)
      context.print(
        "\(counted(found.campaignCount, "campaign")) and "
          + "\(counted(found.portfolioCount, "portfolio")) are valid "
          + "(\(found.datasets.joined(separator: ", ")))")
      printPortfolioNote(found.datasetsWithoutPortfolio, context: context)
      return
    }
    let connection = try context.connect()
    defer { connection.close() }
    let report = try syncCampaigns(connection, directory: directory)
    context.print(
      "synced \(counted(report.campaigns, "campaign")) and "
        + "\(counted(report.portfolios, "portfolio")) "
        + "(\(report.datasets.joined(separator: ", "))); removed "
        + "\(counted(report.removed, "campaign")) and "
        + "\(counted(report.removedPortfolios, "portfolio"))")
    printPortfolioNote(report.datasetsWithoutPortfolio, context: context)
    if !report.datasetsWithoutFolder.isEmpty {
      let keptDatasets = report.datasetsWithoutFolder.map {
        "\($0.dataset) (\(counted($0.campaigns, "campaign")))"
      }
      context.print(
        "note: data sets without a folder in \(report.displayPath) were left unchanged: "
          + keptDatasets.joined(separator: ", ")
          + "; to remove a data set's campaigns, keep its folder with only portfolio.json")
    }
  })

/// Prints a note naming the data sets whose folder has no portfolio.json, if there are any,
/// because `adpilot allocate` plans such a data set only with `--budget`.
private func printPortfolioNote(_ datasets: [String], context: Context) {
  guard !datasets.isEmpty else { return }
  context.print(
    "note: data sets without portfolio.json have no portfolio budget: "
      + datasets.joined(separator: ", ")
      + "; pass --budget MICROS to `adpilot allocate` for them, or add portfolio.json to their "
      + "folders")
}

/// Throws a usage error, before any database work, when `--date` is not a plan date.
func checkPlanDateOption(_ parsed: ParsedArguments) throws {
  guard let date = parsed.value("date") else { return }
  do {
    _ = try parsePlanDate(date)
  } catch let error as PipelineError {
    throw UsageError(message: error.message)
  }
}

/// Returns the folder of `--dir`, or campaigns/ in the checkout when it is absent.
private func campaignDirectory(_ parsed: ParsedArguments) throws -> URL {
  guard let path = parsed.value("dir") else {
    return try ProjectPaths.campaignsDirectory
  }
  guard !path.isEmpty else {
    throw UsageError(
      message: "invalid value for --dir: the path is empty; pass a folder, or leave out --dir "
        + "for campaigns/ in the checkout")
  }
  return URL(fileURLWithPath: path, isDirectory: true)
}

let allocateCommand = Command(
  name: "allocate",
  summary: "split a day's budget across campaigns and write hourly pacing plans",
  usage:
    "allocate --dataset NAME (--date YYYY-MM-DD | --next-day) [--budget MICROS] "
    + "[--history-days N]\n"
    + "       adpilot allocate --dataset NAME --replan [--now ISO-TIME] [--date YYYY-MM-DD] "
    + "[--history-days N]",
  options: [
    .value("dataset", "NAME", "campaign set and log to plan from"),
    .value(
      "date", "YYYY-MM-DD",
      "plan day (with --replan, default: the local date of --now, when every campaign's time "
        + "zone gives the same one)"),
    .flag("next-day", "plan the day after the last logged impression"),
    .value("budget", "MICROS", "total budget of the day in micros (default: portfolio.json)"),
    .value(
      "history-days", "N", "days of logs before the plan day to forecast from, 1 to 366 (default 7)"
    ),
    .flag("replan", "re-plan the hours left of the current plan from actual spend"),
    .value("now", "ISO-TIME", "with --replan: spend counts up to this instant (default: now)"),
  ],
  run: { parsed, context in
    let dataset = try required(parsed, "dataset")
    try checkPlanDateOption(parsed)
    if !parsed.flag("replan"), !parsed.flag("next-day"), parsed.value("date") == nil {
      throw UsageError(
        message: "missing required option --date, or --next-day for the day after the last "
          + "logged impression")
    }
    if let budget = try parsed.int64("budget"), !(0...CampaignFile.maxMicros).contains(budget) {
      throw UsageError(
        message: "--budget must be 0 to \(CampaignFile.maxMicros) micros, got \(budget)")
    }
    let connection = try context.connect()
    defer { connection.close() }
    let pipeline = AllocationPipeline(connection: connection, logger: context.logger)
    if parsed.flag("replan") {
      try runReplan(parsed, dataset: dataset, pipeline: pipeline, context: context)
      return
    }
    guard parsed.value("now") == nil else {
      throw UsageError(message: "--now applies only with --replan")
    }
    let date: String
    if parsed.flag("next-day") {
      guard parsed.value("date") == nil else {
        throw UsageError(message: "give either --date or --next-day, not both")
      }
      date = try pipeline.nextDay(after: dataset)
    } else {
      date = try required(parsed, "date")
    }
    var options = AllocateOptions(dataset: dataset, date: date)
    options.budgetMicros = try parsed.int64("budget")
    options.historyDays = try parsed.int("history-days", default: options.historyDays)
    guard (1...366).contains(options.historyDays) else {
      throw UsageError(
        message: "--history-days must be between 1 and 366, got \(options.historyDays)")
    }
    printAllocation(try pipeline.run(options), context)
    if let note = budgetUnitNote(options.budgetMicros) {
      context.print(note)
    }
  })

/// Returns a note for a `--budget` above zero and below one currency unit, which the tables
/// show as 0.00 or a few cents. Such a figure is usually meant in units, not micros.
func budgetUnitNote(_ budgetMicros: Int64?) -> String? {
  guard let micros = budgetMicros, (1..<1_000_000).contains(micros) else { return nil }
  return "note: --budget is in micros, so \(micros) is less than one currency unit and the "
    + "table shows it rounded to the cent; for \(micros) currency units write --budget "
    + "\(micros * 1_000_000)"
}

func printAllocation(_ outcome: AllocationOutcome, _ context: Context) {
  let result = outcome.result
  if outcome.forecastCampaignRows == 0 {
    context.print(
      "plan \(outcome.runId) for \(outcome.planDate): none of the \(outcome.forecastRows) "
        + "impressions logged before the plan day belongs to a planned campaign and passes its "
        + "targeting, so every campaign is forecast no traffic; check the campaign ids and "
        + "targeting in campaigns/")
  } else {
    context.print(
      "plan \(outcome.runId) for \(outcome.planDate): forecast from "
        + "\(outcome.forecastCampaignRows) impressions of the planned campaigns over "
        + "\(dayCount(outcome.forecastDays)) days, pCTR from \(outcome.pctrSource)")
  }
  // Each number column starts with a space, so a value wider than its column stays apart.
  func cell(_ text: String, _ width: Int) -> String { " " + leftPad(text, width - 1) }
  context.print(
    rightPad("rank", 6) + rightPad("campaign", 18) + cell("allocated", 14) + cell("cap", 14)
      + cell("exp. clicks", 12) + cell("exp. value", 14) + cell("hours", 6) + "  binding")
  for allocation in result.allocations.sorted(by: {
    ($0.rank, $0.campaignId) < ($1.rank, $1.campaignId)
  }) {
    let hours = outcome.plans[allocation.campaignId]?.filter { $0.spendMicros > 0 }.count ?? 0
    context.print(
      rightPad("\(allocation.rank)", 6) + rightPad(allocation.campaignId, 18)
        + cell(money(allocation.amountMicros), 14) + cell(money(allocation.capMicros), 14)
        + cell(String(format: "%.1f", allocation.expectedClicks), 12)
        + cell(money(approximately: allocation.expectedValueMicros), 14)
        + cell("\(hours)", 6) + "  \(allocation.binding.rawValue)")
  }
  context.print(
    "total budget \(money(result.totalBudgetMicros)), allocated \(money(result.allocatedMicros)) "
      + "(sum of caps \(money(result.sumOfCapsMicros)), traffic can absorb "
      + "\(money(result.absorbableMicros)))"
      + (outcome.superseded == 1 ? "; superseded the earlier plan" : "")
      + (outcome.superseded > 1 ? "; superseded the earlier plan and its replan" : ""))
  for note in minimumShortfalls(outcome) { context.print(note) }
}

/// Returns a note for each campaign allocated less than its minimum because its forecast
/// traffic cannot absorb more. The allocator lowers such a minimum instead of failing.
func minimumShortfalls(_ outcome: AllocationOutcome) -> [String] {
  let minimums = Dictionary(
    outcome.campaigns.map { ($0.id, min($0.minDailyMicros, $0.capMicros)) },
    uniquingKeysWith: { first, _ in first })
  return outcome.result.allocations.sorted { $0.campaignId < $1.campaignId }.compactMap {
    allocation in
    guard allocation.binding == .traffic || allocation.binding == .noTraffic,
      let minimum = minimums[allocation.campaignId], allocation.amountMicros < minimum
    else { return nil }
    let amounts = exactMoney([allocation.amountMicros, minimum])
    return "note: \(allocation.campaignId) gets \(amounts[0]), below its minimum of "
      + "\(amounts[1]): its forecast traffic cannot absorb more. Lower "
      + "min_daily_micros, or widen its targeting or day-parting"
  }
}

/// Runs `allocate --replan` and prints each campaign's spend so far and re-planned amount.
func runReplan(
  _ parsed: ParsedArguments, dataset: String, pipeline: AllocationPipeline, context: Context
) throws {
  guard !parsed.flag("next-day"), parsed.value("budget") == nil else {
    throw UsageError(message: "--replan keeps the plan's budget; drop --next-day and --budget")
  }
  var options = ReplanOptions(dataset: dataset, date: parsed.value("date"))
  if let now = parsed.value("now") {
    do {
      options.now = try parseInstant(now)
    } catch {
      throw UsageError(message: "--now: \(error)")
    }
  }
  options.historyDays = try parsed.int("history-days", default: options.historyDays)
  guard (1...366).contains(options.historyDays) else {
    throw UsageError(
      message: "--history-days must be between 1 and 366, got \(options.historyDays)")
  }
  let outcome = try pipeline.replan(options)
  context.print(
    "replan \(outcome.runId) for \(outcome.planDate) at \(outcome.now.ISO8601Format()) "
      + "(plan \(outcome.planRunId))")
  context.print(
    rightPad("campaign", 18) + leftPad("plan", 14) + leftPad("cap", 14) + leftPad("spent", 14)
      + leftPad("left", 14) + leftPad("hours", 6))
  for campaign in outcome.campaigns {
    let hours = campaign.rows.filter { $0.spendMicros > 0 }.count
    context.print(
      rightPad(campaign.campaignId, 18) + leftPad(money(campaign.amountMicros), 14)
        + leftPad(money(campaign.capMicros), 14) + leftPad(money(campaign.spentMicros), 14)
        + leftPad(money(campaign.plannedMicros), 14) + leftPad("\(hours)", 6))
  }
  if !outcome.notPlanned.isEmpty {
    context.print(
      "not in the plan, left out: \(outcome.notPlanned.joined(separator: ", ")); run "
        + "`adpilot allocate --dataset \(dataset) --date \(outcome.planDate)` to plan them")
  }
  if !outcome.removedSincePlan.isEmpty {
    context.print(
      "in the plan but no longer synced, left out with no hours: "
        + outcome.removedSincePlan.joined(separator: ", "))
  }
  if outcome.superseded > 0 {
    context.print("superseded \(outcome.superseded) earlier replan")
  }
}

let explainCommand = Command(
  name: "explain",
  summary: "say why each campaign of the current plan got its amount",
  usage: "explain --dataset NAME --date YYYY-MM-DD [--campaign ID]",
  options: [
    .value("dataset", "NAME", "campaign set of the plan"),
    .value("date", "YYYY-MM-DD", "plan day"),
    .value("campaign", "ID", "explain this campaign only (default: every campaign)"),
  ],
  run: { parsed, context in
    try checkPlanDateOption(parsed)
    let campaign = parsed.value("campaign") == nil ? nil : try required(parsed, "campaign")
    let connection = try context.connect()
    defer { connection.close() }
    let plan = try PlanExplanation.load(
      connection, dataset: try required(parsed, "dataset"), date: try required(parsed, "date"),
      campaignId: campaign)
    for line in explanationLines(plan) {
      context.print(line)
    }
  })

/// Formats a plan explanation: a summary line, then one paragraph per campaign.
func explanationLines(_ plan: PlanExplanation) -> [String] {
  var lines = [
    "plan \(plan.runId) for \(plan.dataset) on \(plan.planDate): allocated "
      + "\(money(plan.allocatedMicros)) of a \(money(plan.totalBudgetMicros)) budget"
  ]
  if let cut = plan.cutValue {
    lines.append(
      "the budget ran out where one more unit of spend returns "
        + String(format: "%.3f", cut) + " in expected value")
  }
  for allocation in plan.allocations {
    let minimum =
      allocation.minimumMicros > 0 ? ", minimum \(money(allocation.minimumMicros))" : ""
    // Only a campaign held back by the budget or kept at its minimum could buy a next unit.
    // Every other campaign is stopped by its cap, its traffic or its schedule.
    let canBuyMore = allocation.binding == .budget || allocation.binding == .minimum
    let next =
      canBuyMore ? ", next unit returns " + String(format: "%.3f", allocation.marginalValue) : ""
    lines.append(
      "#\(allocation.rank) \(allocation.campaignId): \(money(allocation.amountMicros)) "
        + "(cap \(money(allocation.capMicros))\(minimum)), expected "
        + String(format: "%.1f", allocation.expectedClicks) + " clicks worth "
        + money(approximately: allocation.expectedValueMicros) + next)
    lines.append("    \(plan.reason(for: allocation))")
  }
  return lines
}

/// Formats a count of days: whole days as an integer, others with two decimals.
func dayCount(_ days: Double) -> String {
  // Rounded to hundredths first, so that 7.9999 prints as 8 and not as 8.00.
  let hundredths = (days * 100).rounded()
  return hundredths.truncatingRemainder(dividingBy: 100) == 0
    ? "\(Int(hundredths / 100))" : String(format: "%.2f", hundredths / 100)
}

/// Formats micros with two places when they are whole cents, and with all six otherwise, so
/// that an amount below a cent does not print as 0.00.
func exactMoney(_ micros: Int64) -> String {
  micros % 10_000 == 0 ? money(micros) : sixPlaces(micros)
}

/// Formats amounts that a sentence compares, all with two places when they are all whole cents
/// and all with six otherwise, so that 32.00 does not stand beside 3.832389.
func exactMoney(_ amounts: [Int64]) -> [String] {
  amounts.allSatisfy { $0 % 10_000 == 0 } ? amounts.map(money) : amounts.map(sixPlaces)
}

/// Formats micros with all six decimal places.
private func sixPlaces(_ micros: Int64) -> String {
  let sign = micros < 0 ? "-" : ""
  let magnitude = micros.magnitude
  let fraction = String(magnitude % 1_000_000)
  return "\(sign)\(magnitude / 1_000_000)."
    + String(repeating: "0", count: 6 - fraction.count) + fraction
}
