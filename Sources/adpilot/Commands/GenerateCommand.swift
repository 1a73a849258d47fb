// `adpilot generate` writes the synthetic data set: users, behaviour histories, ads, impressions
// with their true click probability, and the next day's ad requests.

import AdPilot
import Foundation

let generateCommand = Command(
  name: "generate",
  summary: "generate synthetic users, ads, impressions and requests (data set `synthetic`)",
  usage:
    "generate [--days N] [--impressions-per-day N] [--users N] [--ads N] [--sequence-length N] "
    + "[--requests N] [--start-date YYYY-MM-DD] [--seed N]",
  options: [
    .value("days", "N", "days of impressions (default 8)"),
    .value(
      "impressions-per-day", "N",
      "mean impressions per day, before day-to-day noise (default 25000)"),
    .value("users", "N", "users (default 20000)"),
    .value("ads", "N", "ads, spread over the synthetic campaigns (default 400)"),
    .value("sequence-length", "N", "maximum behaviour items logged per impression (default 30)"),
    .value(
      "requests", "N",
      "ad requests for the day after the log, each with "
        + "\(SyntheticConfig().candidatesPerRequest) candidate ads, so that many "
        + "adpilot.ad_requests rows per request (default 2000)"),
    .value("start-date", "YYYY-MM-DD", "first day of the log, UTC (default 2026-01-05)"),
    .value("seed", "N", "seed of everything drawn (default 20260105)"),
  ],
  run: { parsed, context in
    var config = SyntheticConfig()
    config.days = try parsed.int("days", default: config.days)
    config.impressionsPerDay = try parsed.int(
      "impressions-per-day", default: config.impressionsPerDay)
    config.users = try parsed.int("users", default: config.users)
    config.ads = try parsed.int("ads", default: config.ads)
    config.maxSequenceLength = try parsed.int("sequence-length", default: config.maxSequenceLength)
    config.requests = try parsed.int("requests", default: config.requests)
    config.startDate = parsed.value("start-date") ?? config.startDate
    config.seed = try parsed.uint64("seed", default: config.seed)
    let generator: SyntheticGenerator
    do {
      generator = try SyntheticGenerator(config)
    } catch let error as SyntheticConfigError {
      throw UsageError(
        message:
          "invalid value for --\(optionName(error.field)): \(error.value); \(error.fix)")
    }
    let connection = try context.connect()
    defer { connection.close() }
    let report = try generator.generate(into: connection) { progress in
      context.logger.debug(
        "day written", ["impressions": "\(progress.impressions)", "clicks": "\(progress.clicks)"])
    }
    context.print("\(report)")
    // Another --sequence-length gives the data set another layout, which the champion cannot
    // score.
    if let note = try championLayoutNote(connection, dataset: SyntheticGenerator.dataset) {
      context.print(note)
    }
  })

/// Returns the command-line option of a synthetic configuration field, such as
/// "impressions-per-day" for `impressionsPerDay`.
func optionName(_ field: String) -> String {
  let options = ["maxSequenceLength": "sequence-length"]
  if let option = options[field] { return option }
  var name = ""
  for character in field {
    if character.isUppercase {
      name += "-" + character.lowercased()
    } else {
      name.append(character)
    }
  }
  return name
}
