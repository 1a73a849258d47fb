// Tests of the adpilot tool's argument parser and its money formatting.

import Foundation
import Testing

@testable import AdPilot
@testable import adpilot

private let options: [OptionSpec] = [
  .value("dataset", "NAME", "data set"),
  .value("epochs", "N", "epochs"),
  .flag("next-day", "plan the next day"),
]

@Test func parserReadsSeparateAndInlineValues() throws {
  let parsed = try parseArguments(
    ["--dataset", "criteo", "--epochs=3", "--next-day"], options: options)
  #expect(parsed.value("dataset") == "criteo")
  #expect(try parsed.int("epochs", default: 1) == 3)
  #expect(parsed.flag("next-day"))
  #expect(parsed.positionals.isEmpty)
}

@Test func parserKeepsPositionalsInOrder() throws {
  let parsed = try parseArguments(
    ["start", "--dataset", "x", "--", "--not-an-option"], options: options, maxPositionals: 2)
  #expect(parsed.positionals == ["start", "--not-an-option"])
}

@Test func parserQuotesEachExtraPositional() {
  let cases: [([String], String)] = [
    (["a", "b"], "unexpected argument 'b'"),
    (["a", "b", "c d"], "unexpected arguments 'b', 'c d'"),
  ]
  for (arguments, message) in cases {
    do {
      _ = try parseArguments(arguments, options: options, maxPositionals: 1)
      Issue.record("accepted \(arguments)")
    } catch let error as UsageError {
      #expect(error.message == message)
    } catch {
      Issue.record("unexpected error \(error)")
    }
  }
}

@Test func parserRejectsUnknownOption() {
  #expect(throws: UsageError.self) {
    try parseArguments(["--datset", "x"], options: options)
  }
}

@Test func parserNamesValidOptionsInError() {
  do {
    _ = try parseArguments(["--datset", "x"], options: options)
    Issue.record("expected a usage error")
  } catch let error as UsageError {
    #expect(error.message.contains("'--datset'"))
    #expect(error.message.contains("--dataset"))
  } catch {
    Issue.record("unexpected error \(error)")
  }
}

@Test func parserRejectsMissingValue() {
  #expect(throws: UsageError.self) {
    try parseArguments(["--dataset"], options: options)
  }
}

@Test func parserRejectsOptionTakenAsValue() throws {
  do {
    _ = try parseArguments(["--dataset", "--epochs", "1"], options: options)
    Issue.record("expected a usage error")
  } catch let error as UsageError {
    #expect(error.message == "missing value for --dataset (expected NAME)")
  }
  let inline = try parseArguments(["--dataset=--odd"], options: options)
  #expect(inline.value("dataset") == "--odd")
}

@Test func parserRejectsRepeatedOption() {
  for arguments in [
    ["--epochs", "1", "--epochs", "2"], ["--epochs=1", "--epochs=2"], ["--next-day", "--next-day"],
  ] {
    do {
      _ = try parseArguments(arguments, options: options)
      Issue.record("expected a usage error for \(arguments)")
    } catch let error as UsageError {
      #expect(error.message.hasSuffix("is given twice; keep one"), "\(arguments)")
    } catch {
      Issue.record("unexpected error \(error)")
    }
  }
}

@Test func parserRejectsValueOnFlag() {
  #expect(throws: UsageError.self) {
    try parseArguments(["--next-day=yes"], options: options)
  }
}

@Test func parserRejectsExtraPositionals() {
  #expect(throws: UsageError.self) {
    try parseArguments(["a", "b"], options: options, maxPositionals: 1)
  }
}

@Test func parserRejectsNonIntegerValue() throws {
  let parsed = try parseArguments(["--epochs", "three"], options: options)
  #expect(throws: UsageError.self) {
    try parsed.int("epochs", default: 1)
  }
}

@Test func parserReadsUnsignedSeed() throws {
  let seeds: [OptionSpec] = [.value("seed", "N", "seed")]
  let largest = try parseArguments(["--seed", "18446744073709551615"], options: seeds)
  #expect(try largest.uint64("seed", default: 1) == UInt64.max)
  let absent = try parseArguments([], options: seeds)
  #expect(try absent.uint64("seed", default: 7) == 7)
  for text in ["-1", "18446744073709551616", "1.5", ""] {
    let parsed = try parseArguments(["--seed", text], options: seeds)
    #expect(throws: UsageError.self, "--seed \(text)") {
      try parsed.uint64("seed", default: 1)
    }
  }
}

@Test func moneyFormatsMicros() {
  #expect(money(0) == "0.00")
  #expect(money(1_234_567) == "1.23")
  #expect(money(50_000) == "0.05")
  #expect(money(-2_500_000) == "-2.50")
  #expect(money(11_069_988) == "11.07")
  #expect(money(1_995_000) == "2.00")
  #expect(money(-4_999) == "0.00")
}

@Test func approximateMoneyNeverTraps() {
  #expect(money(approximately: 1_234_567.4) == "1.23")
  #expect(money(approximately: 1_995_000) == "2.00")
  #expect(money(approximately: 7.7e19) == "7.700e+13")
  #expect(money(approximately: -7.7e19) == "-7.700e+13")
  #expect(money(approximately: .infinity) == "inf")
}

@Test func toolReturnsUsageCodeForUnknownCommand() {
  #expect(Tool.main(["frobnicate"], environment: [:]) == 2)
}

@Test func toolReturnsUsageCodeForBadOption() {
  #expect(Tool.main(["train", "--bogus"], environment: [:]) == 2)
}

@Test func toolReturnsUsageCodeForNegativeSeed() {
  for command in [["train", "--dataset", "synthetic"], ["generate"]] {
    #expect(Tool.main(command + ["--seed", "-1"], environment: [:]) == 2, "\(command)")
  }
}

@Test func toolReturnsUsageCodeForBadTrainingNumbers() {
  let options = [
    ["--promotion-margin", "-1"], ["--promotion-margin", "1"], ["--l2", "-1e-5"], ["--l2", "1.5"],
    ["--learning-rate", "0"], ["--learning-rate", "2"], ["--logistic-learning-rate", "1e30"],
  ]
  for option in options {
    #expect(
      Tool.main(["train", "--dataset", "synthetic"] + option, environment: [:]) == 2, "\(option)")
  }
}

@Test func benchRejectsOtherSubcommandsOption() {
  let gemm = ParsedArguments(positionals: ["gemm"], values: ["shape": "8x8x8", "threads": "2"])
  do {
    try checkBenchOptions(gemm)
    Issue.record("bench gemm accepted --threads")
  } catch let error as UsageError {
    #expect(error.message == "--threads does not apply to bench gemm; it takes --shape, --steps")
  } catch {
    Issue.record("unexpected error \(error)")
  }
  let train = ParsedArguments(
    positionals: ["train"], values: ["threads": "2", "activation": "dice"], flags: [])
  #expect(throws: Never.self) { try checkBenchOptions(train) }
  let allocate = ParsedArguments(positionals: ["allocate"], flags: ["constrained"])
  #expect(throws: Never.self) { try checkBenchOptions(allocate) }
  let pacing = ParsedArguments(positionals: ["pacing"], flags: ["constrained"])
  #expect(throws: UsageError.self) { try checkBenchOptions(pacing) }
}

@Test func floatOptionRejectsValuesOutsideSinglePrecision() throws {
  let rate: [OptionSpec] = [.value("l2", "X", "L2")]
  #expect(try parseArguments(["--l2", "1e-30"], options: rate).float("l2", default: 1) == 1e-30)
  #expect(try parseArguments(["--l2", "0"], options: rate).float("l2", default: 1) == 0)
  #expect(try parseArguments([], options: rate).float("l2", default: 5e-5) == 5e-5)
  for text in ["1e39", "-1e39", "1e-39", "1e-50", "-1e-300"] {
    do {
      _ = try parseArguments(["--l2", text], options: rate).float("l2", default: 1)
      Issue.record("--l2 \(text) was accepted")
    } catch let error as UsageError {
      #expect(
        error.message
          == "invalid value for --l2: '\(text)' is outside the range of a 32-bit float "
          + "(magnitudes from about 1.2e-38 to 3.4e38, or 0)")
    }
  }
}

@Test func doubleOptionReadsDecimalNumbersOnly() throws {
  let rate: [OptionSpec] = [.value("seconds", "S", "seconds")]
  #expect(
    try parseArguments(["--seconds", "2.5e1"], options: rate).double("seconds", default: 0) == 25)
  #expect(
    try parseArguments(["--seconds", "-0.0"], options: rate).double("seconds", default: 1) == 0)
  for text in ["0x1p0", "nan", "inf", "1e400", "", "1_000"] {
    let error = #expect(throws: UsageError.self) {
      try parseArguments(["--seconds=\(text)"], options: rate).double("seconds", default: 0)
    }
    #expect(
      error?.message == "invalid value for --seconds: '\(text)' is not a finite decimal number")
  }
  for text in ["1e-400", "-0.5e-330"] {
    let error = #expect(throws: UsageError.self) {
      try parseArguments(["--seconds", text], options: rate).double("seconds", default: 0)
    }
    #expect(
      error?.message
        == "invalid value for --seconds: '\(text)' is too close to 0 for a 64-bit float; use 0 "
        + "or a magnitude above 1e-300")
  }
}

@Test func nameOptionAcceptsPlainNamesOnly() throws {
  let spec: [OptionSpec] = [.value("model-name", "NAME", "name")]
  for text in ["criteo", "ipinyou_2997", "syn-relu.v2", "2997", String(repeating: "a", count: 63)] {
    #expect(try parseArguments(["--model-name", text], options: spec).name("model-name") == text)
  }
  #expect(try parseArguments([], options: spec).name("model-name") == nil)
  let rejected = [
    "", " ", "two words", "naïve", "a;b", String(repeating: "a", count: 64), "-", "-dash", ".",
    "..", "..x", "_x",
  ]
  for text in rejected {
    do {
      _ = try parseArguments(["--model-name", text], options: spec).name("model-name")
      Issue.record("--model-name '\(text)' was accepted")
    } catch let error as UsageError {
      #expect(
        error.message
          == "invalid value for --model-name: '\(text)'; use 1 to 63 letters, digits, '_', '-' "
          + "or '.', starting with a letter or digit")
    }
  }
}

@Test func backtestRejectsHistoryDaysOutsideAYear() {
  for days in ["0", "367", "100000000"] {
    #expect(
      Tool.main(["backtest", "--dataset", "x", "--history-days", days], environment: [:]) == 2,
      "\(days)")
  }
}

@Test func generateErrorsNameOptions() {
  #expect(optionName("impressionsPerDay") == "impressions-per-day")
  #expect(optionName("startDate") == "start-date")
  #expect(optionName("maxSequenceLength") == "sequence-length")
  #expect(optionName("days") == "days")
  #expect(Tool.main(["generate", "--days", "0"], environment: [:]) == 2)
  #expect(Tool.main(["generate", "--start-date", "1969-12-31"], environment: [:]) == 2)
}

@Test func benchRejectsSizesThatCannotFit() {
  for shape in ["99999999x99999999x99999999", "4294967296x4294967296x1", "65536x65536x1"] {
    #expect(Tool.main(["bench", "gemm", "--shape", shape], environment: [:]) == 2, "\(shape)")
  }
  #expect(
    Tool.main(["bench", "allocate", "--campaigns", "9223372036854775807"], environment: [:]) == 2)
  // Each used to abort on a failed allocation or a conversion trap.
  for arguments in [
    ["bench", "score", "--steps", "1", "--batch-size", "1000000000000"],
    ["bench", "train", "--steps", "1", "--batch-size", "100000000"],
    ["bench", "train", "--threads", "100000"],
    ["bench", "pacing", "--impressions", "1000000000", "--days", "1"],
    ["bench", "pacing", "--impressions", "9223372036854775807", "--days", "1"],
    ["bench", "pacing", "--days", "100000"],
    ["bench", "sql", "--rows", "100000000"],
    ["bench", "gemm", "--shape", "1x1x1x"],
    ["bench", "gemm", "--shape", "x2x2x2"],
    ["bench", "gemm", "--shape", "8x8x8", "--steps", "1000000000"],
  ] {
    #expect(Tool.main(arguments, environment: [:]) == 2, "\(arguments)")
  }
}

@Test func gemmBenchmarkTimesTinyProducts() {
  // A 2x2 by 2x2 product takes nanoseconds, so a single one can time as zero.
  let rate = GemmBenchmark.gflops(m: 2, k: 2, n: 2, repeats: 3)
  #expect(rate.isFinite)
  #expect(rate > 0)
}

@Test func importRejectsOptionsOfOtherFormats() {
  // Each would otherwise be ignored; the check runs before any connection is opened.
  for arguments in [
    ["import", "criteo", "log.csv", "--split", "test"],
    ["import", "taobao", "log.csv", "--split", "train"],
    ["import", "ipinyou", "log.csv", "--seed", "3"],
    ["import", "ipinyou-streams", "log.csv", "--seed", "3"],
    ["import", "ipinyou", "log.csv", "--split", "validation"],
  ] {
    #expect(Tool.main(arguments, environment: [:]) == 2, "\(arguments)")
  }
}

/// A database URL at which no server listens: a command that connects before checking its
/// options fails there with exit code 1 instead of the usage code 2.
private let nowhere = ["DATABASE_URL": "postgresql:///adpilot?host=/nonexistent-adpilot-socket"]

@Test func scoringCommandsCheckOptionsBeforeConnecting() {
  let commands = [
    ["worker", "--dataset", "synthetic", "--once", "--seconds", "3"],
    ["worker", "--dataset", "synthetic", "--batch-size", "0"],
    ["worker", "--dataset", "synthetic", "--poll-seconds", "0"],
    ["worker", "--dataset", "synthetic", "--poll-seconds", "0.000001"],
    ["worker", "--dataset", "synthetic", "--poll-seconds", "3601"],
    ["worker", "--dataset", "synthetic", "--seconds", "-1"],
    ["score", "--batch-size", "0"],
    ["score", "--dataset", "synthetic", "--batch-size", "9223372036854775807"],
    ["worker", "--dataset", "synthetic", "--batch-size", "1000001"],
    ["score", "--query", "SELECT 1"],
    ["score", "--dataset", "synthetic", "--query", " ; -- nothing"],
  ]
  for command in commands {
    #expect(Tool.main(command, environment: nowhere) == 2, "\(command)")
  }
  #expect(Tool.main(["worker", "--dataset", "synthetic", "--once"], environment: nowhere) == 1)
  let bounds = ["worker", "--dataset", "synthetic", "--once", "--poll-seconds"]
  #expect(Tool.main(bounds + ["0.01"], environment: nowhere) == 1)
  #expect(Tool.main(bounds + ["3600"], environment: nowhere) == 1)
}

@Test func modelsRejectsAnEmptyName() {
  #expect(Tool.main(["models", "--name", ""], environment: nowhere) == 2)
  #expect(Tool.main(["models", "history", "--name", ""], environment: nowhere) == 2)
}

@Test func valueMayStartWithACommentLine() throws {
  let parsed = try parseArguments(
    ["--dataset", "-- note\nSELECT 1"], options: options)
  #expect(parsed.value("dataset") == "-- note\nSELECT 1")
  #expect(throws: UsageError.self) {
    try parseArguments(["--dataset", "--next-day"], options: options)
  }
}

@Test func planningCommandsCheckOptionsBeforeConnecting() {
  let commands = [
    ["allocate", "--dataset", "synthetic", "--date", "2026-01-13", "--budget", "-1"],
    ["allocate", "--dataset", "synthetic", "--next-day", "--budget", "1000000000000001"],
    ["allocate", "--dataset", "synthetic", "--date", "1969-12-31"],
    ["allocate", "--dataset", "synthetic", "--date", "2026-02-30"],
    ["allocate", "--dataset", "synthetic", "--replan", "--date", "13-01-2026"],
    ["explain", "--dataset", "synthetic", "--date", "0001-01-01"],
    ["explain", "--dataset", "synthetic", "--date", "2026-01-13", "--campaign", ""],
    ["allocate", "--dataset", "synthetic"],
  ]
  for command in commands {
    #expect(Tool.main(command, environment: nowhere) == 2, "\(command)")
  }
  #expect(
    Tool.main(["allocate", "--dataset", "synthetic", "--date", "2026-01-13"], environment: nowhere)
      == 1)
  // A replan finds its plan day itself, so it needs no --date before connecting.
  #expect(Tool.main(["allocate", "--dataset", "synthetic", "--replan"], environment: nowhere) == 1)
}

@Test func dayCountRoundsToHundredths() {
  #expect(dayCount(8) == "8")
  #expect(dayCount(7.999_9) == "8")
  #expect(dayCount(7.54) == "7.54")
  #expect(dayCount(1 + 14.0 / 24) == "1.58")
  #expect(dayCount(0.004) == "0")
}

@Test func thresholdTextKeepsExtremeValues() {
  #expect(thresholdText(0.009_523_8) == "0.00952")
  #expect(thresholdText(1e-30) == "1e-30")
  #expect(thresholdText(0.999_999_94) == "0.99999994")
  #expect(thresholdText(0.000_004) == "4e-06")
}

@Test func emptyRequiredValueIsNamed() throws {
  let parsed = try parseArguments(["--dataset", ""], options: options)
  let empty = #expect(throws: UsageError.self) { try required(parsed, "dataset") }
  #expect(empty?.message == "invalid value for --dataset: the value is empty")
  let missing = #expect(throws: UsageError.self) { try required(parsed, "epochs") }
  #expect(missing?.message == "missing required option --epochs")
}

@Test func countedNounsTakePlurals() {
  #expect(counted(0, "campaign") == "0 campaigns")
  #expect(counted(1, "portfolio") == "1 portfolio")
  #expect(counted(3, "campaign") == "3 campaigns")
}

@Test func exactMoneyKeepsAmountsBelowACent() {
  #expect(exactMoney(90_000_000) == "90.00")
  #expect(exactMoney(1_000) == "0.001000")
  #expect(exactMoney(12_345_678) == "12.345678")
  #expect(exactMoney(-5) == "-0.000005")
  #expect(exactMoney(0) == "0.00")
  #expect(exactMoney([3_832_389, 32_000_000]) == ["3.832389", "32.000000"])
  #expect(exactMoney([3_830_000, 32_000_000]) == ["3.83", "32.00"])
  #expect(exactMoney([-5, 0]) == ["-0.000005", "0.000000"])
}

@Test func modelsRejectOptionsOfOtherActions() {
  // Each used to be ignored; the check runs before any connection is opened.
  for arguments in [
    ["models", "promote", "criteo-v1-040b4ebf", "--reason", "x", "--name", "synthetic"],
    ["models", "history", "--name", "synthetic", "--reason", "x"],
    ["models", "--reason", "x"],
  ] {
    #expect(Tool.main(arguments, environment: [:]) == 2, "\(arguments)")
  }
}

@Test func rightPadKeepsASpaceAfterWideValues() {
  #expect(rightPad("ab", 4) == "ab  ")
  #expect(rightPad("abcd", 4) == "abcd ")
  #expect(rightPad("abcdef", 4) == "abcdef ")
}

@Test func helpTextFollowsTheCommandAsked() throws {
  let train = try #require(Tool.commands.first { $0.name == "train" })
  #expect(try Tool.helpText([]) == Tool.help())
  #expect(try Tool.helpText(["-h"]) == Tool.help())
  #expect(try Tool.helpText(["help"]) == Tool.help())
  #expect(try Tool.helpText(["help", "train"]) == Tool.commandHelp(train))
  #expect(try Tool.helpText(["train", "-h"]) == Tool.commandHelp(train))
  #expect(try Tool.helpText(["train", "--dataset", "x", "--help"]) == Tool.commandHelp(train))
  #expect(try Tool.helpText(["train", "--dataset", "x"]) == nil)
  #expect(try Tool.helpText(["nosuch", "--help"]) == nil)
  #expect(Tool.main(["train", "-h"], environment: [:]) == 0)
  #expect(Tool.main(["--verbose", "summary", "--verbose"], environment: [:]) == 2)
}

@Test func helpRejectsUnknownCommand() {
  #expect(throws: UsageError.self) { try Tool.helpText(["help", "nosuch"]) }
  #expect(throws: UsageError.self) { try Tool.helpText(["help", "train", "score"]) }
  #expect(Tool.main(["help", "nosuch"], environment: [:]) == 2)
  #expect(Tool.main(["help", "train", "extra"], environment: [:]) == 2)
}

@Test func helpFlagAsOptionValueIsNoHelpRequest() throws {
  let models = try #require(Tool.commands.first { $0.name == "models" })
  let promote = ["models", "promote", "synthetic-v1-00000000"]
  #expect(try Tool.helpText(promote + ["--reason", "-h"]) == nil)
  #expect(try Tool.helpText(promote + ["--reason", "--help me"]) == nil)
  #expect(try Tool.helpText(["import", "criteo", "--", "-h"]) == nil)
  // A flag takes no value, so -h after it is still a request for help.
  #expect(try Tool.helpText(["worker", "--once", "-h"]) != nil)
  #expect(try Tool.helpText(promote + ["--reason=x", "-h"]) == Tool.commandHelp(models))
  // The parser rejects `--help` as a value, so it reads as a request for help.
  #expect(try Tool.helpText(promote + ["--reason", "--help"]) == Tool.commandHelp(models))
  // The command runs and fails to connect instead of printing help.
  #expect(Tool.main(promote + ["--reason", "-h"], environment: nowhere) == 1)
}

@Test func modelsHistoryRejectsExtraArgument() {
  let arguments = ["models", "history", "synthetic", "--name", "synthetic"]
  #expect(Tool.main(arguments, environment: nowhere) == 2)
}

@Test func importRejectsEmptyPath() {
  #expect(Tool.main(["import", "criteo", ""], environment: nowhere) == 2)
}

@Test func queuedRequestsLineSuggestsLimitOnlyWhenReached() {
  let partial = QueuedRequests(added: 3, alreadyPresent: 2)
  #expect(
    queuedRequestsLine(partial, dataset: "synthetic", limit: 5)
      == "queued 3 requests of synthetic; left out 2 of the first 5 impressions, whose request "
      + "and ad are already in adpilot.ad_requests (queued, scored or set aside); raise --limit "
      + "to queue later impressions")
  #expect(
    queuedRequestsLine(partial, dataset: "synthetic", limit: 10_000)
      == "queued 3 requests of synthetic; left out 2 of all 5 impressions, whose request and ad "
      + "are already in adpilot.ad_requests (queued, scored or set aside)")
  #expect(
    queuedRequestsLine(QueuedRequests(added: 4, alreadyPresent: 0), dataset: "x", limit: 4)
      == "queued 4 requests of x")
}

@Test func argumentsMustBeUTF8() throws {
  let valid: [[UInt8]] = [Array("score".utf8), Array("--query".utf8), Array("café ✓".utf8)]
  #expect(try decodeArguments(valid) == ["score", "--query", "café ✓"])

  // "josé" as Latin-1 (0xE9), and a UTF-8 sequence cut short before a space.
  let cases: [([UInt8], String)] = [
    (
      Array("jos".utf8) + [0xE9],
      "argument 2 ('jos\u{FFFD}') is not valid UTF-8: byte 0xE9 at byte offset 3"
    ),
    (
      [0x61, 0xE2, 0x9C, 0x20],
      "argument 2 ('a\u{FFFD} ') is not valid UTF-8: byte 0xE2 at byte offset 1"
    ),
  ]
  for (bytes, prefix) in cases {
    let error = #expect(throws: UsageError.self) {
      try decodeArguments([Array("models".utf8), bytes])
    }
    #expect(error?.message.hasPrefix(prefix) == true, "\(error?.message ?? "no error")")
    #expect(
      error?.message.hasSuffix("; pass UTF-8 text, for example from a terminal with a UTF-8 locale")
        == true)
  }
}

@Test func trainNotesMoreThreadsThanProcessors() {
  // The note comes before the connection, which fails here on a socket folder that does not
  // exist, so no database is needed.
  func output(threads: Int) -> String {
    let context = Context(
      environment: nowhere, logger: Logger(minimumLevel: .error), echo: false)
    do {
      let parsed = try parseArguments(
        ["--dataset", "synthetic", "--threads", "\(threads)"], options: trainCommand.options,
        maxPositionals: trainCommand.maxPositionals)
      try trainCommand.run(parsed, context)
      Issue.record("train connected to a database that does not exist")
    } catch {}
    return context.output
  }
  let processors = ProcessInfo.processInfo.activeProcessorCount
  let many = processors + 1
  #expect(
    output(threads: many)
      == "note: --threads \(many) is more than this machine's \(processors) processors, so steps "
      + "run no faster than with \(processors); the model is still the one \(many) threads give "
      + "on any machine\n")
  #expect(output(threads: processors) == "")
}

@Test func verboseAfterDoubleDashStaysPositional() {
  let before = Tool.removingVerbose(["--verbose", "import", "criteo", "data.txt"])
  #expect(before.count == 1)
  #expect(before.rest == ["import", "criteo", "data.txt"])
  let after = Tool.removingVerbose(["import", "criteo", "--", "--verbose"])
  #expect(after.count == 0)
  #expect(after.rest == ["import", "criteo", "--", "--verbose"])
  let both = Tool.removingVerbose(["import", "--verbose", "criteo", "--", "--verbose"])
  #expect(both.count == 1)
  #expect(both.rest == ["import", "criteo", "--", "--verbose"])
}

@Test func smallBudgetGetsUnitNote() {
  #expect(
    budgetUnitNote(7)
      == "note: --budget is in micros, so 7 is less than one currency unit and the table shows "
      + "it rounded to the cent; for 7 currency units write --budget 7000000")
  #expect(budgetUnitNote(999_999) != nil)
  #expect(budgetUnitNote(nil) == nil)
  #expect(budgetUnitNote(0) == nil)
  #expect(budgetUnitNote(1_000_000) == nil)
}
