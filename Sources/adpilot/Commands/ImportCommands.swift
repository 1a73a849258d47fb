// `adpilot import <format> FILE` loads a public ad log into adpilot.impressions in one
// transaction and prints rows loaded and rows set aside by reason.

import AdPilot
import Foundation

let importCommands: [Command] = [
  Command(
    name: "import",
    summary: "load a log file: criteo, ipinyou, ipinyou-raw, taobao or ipinyou-streams",
    usage: "import criteo|ipinyou|ipinyou-raw|taobao|ipinyou-streams FILE [--dataset NAME] "
      + "[--split train|test] [--seed N]",
    options: [
      .value("dataset", "NAME", "data set name (default: one per format, e.g. criteo)"),
      .value(
        "split", "SPLIT",
        "ipinyou: train or test (default: the word train or test in the file name)"),
      .value("seed", "N", "criteo, taobao: seed of the fixed 80/20 split (default 0)"),
    ],
    maxPositionals: 2,
    run: { parsed, context in
      guard parsed.positionals.count == 2 else {
        throw UsageError(message: "expected a format and a file, e.g. `import criteo data.csv`")
      }
      let format = parsed.positionals[0]
      // An empty path would resolve to the working directory and be reported as that folder.
      guard !parsed.positionals[1].isEmpty else {
        throw UsageError(message: "the file path is empty; give the log file to import")
      }
      let file = URL(fileURLWithPath: parsed.positionals[1])
      // Each option applies to some formats only. Elsewhere it would be ignored without a word.
      if parsed.value("split") != nil, format != "ipinyou" {
        throw UsageError(
          message: "--split applies to the ipinyou format only, not \(format); leave it out")
      }
      if let split = parsed.value("split"), split != "train", split != "test" {
        throw UsageError(message: "--split must be train or test, got '\(split)'")
      }
      if parsed.value("seed") != nil, format != "criteo", format != "taobao" {
        throw UsageError(
          message:
            "--seed applies to the criteo and taobao formats only, not \(format); leave it out")
      }
      let seed = try parsed.uint64("seed", default: 0)
      let dataset = try parsed.name("dataset")
      let connection = try context.connect()
      defer { connection.close() }
      let report: ImportReport
      switch format {
      case "criteo":
        report = try CriteoImporter.importFile(
          connection, file: file, dataset: dataset ?? CriteoImporter.defaultDataset, seed: seed)
      case "ipinyou":
        report = try IPinYouCTRImporter.importFile(
          connection, file: file, split: parsed.value("split"),
          dataset: dataset ?? IPinYouCTRImporter.defaultDataset)
      case "ipinyou-raw":
        report = try IPinYouLogImporter.importFile(
          connection, file: file, dataset: dataset ?? IPinYouLogImporter.defaultDataset)
      case "taobao":
        report = try TaobaoImporter.importFile(
          connection, file: file, dataset: dataset ?? TaobaoImporter.defaultDataset, seed: seed)
      case "ipinyou-streams":
        report = try IPinYouStreamImporter.importFile(
          connection, file: file, dataset: dataset ?? IPinYouStreamImporter.defaultDataset)
      default:
        throw UsageError(
          message: "unknown format '\(format)': expected criteo, ipinyou, ipinyou-raw, taobao "
            + "or ipinyou-streams")
      }
      context.print("\(report)")
      if let gap = report.dayGap {
        context.print(gap.note)
      }
      if let overlap = report.overlapNote {
        context.print(overlap)
      }
      if let same = report.sameRowsNote {
        context.print(same)
      }
      if let quoting = report.unclosedQuoteNote {
        context.print(quoting)
      }
      if let note = try championLayoutNote(connection, dataset: report.dataset) {
        context.print(note)
      }
      if report.rejectedTotal > 0 {
        context.print(
          "rows set aside are kept with their line number, reason and raw text in "
            + "adpilot.rejected_rows")
      }
    })
]
