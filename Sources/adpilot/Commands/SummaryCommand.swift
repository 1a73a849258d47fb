// `adpilot summary` lists the data sets, or prints what the database holds for one and checks
// its current plan's invariants.

import AdPilot

let summaryCommand = Command(
  name: "summary",
  summary: "list the data sets, or report one's logs, models, current plan and scored requests",
  usage: "summary [--dataset NAME]",
  options: [
    .value("dataset", "NAME", "data set to report on (default: list every data set)")
  ],
  run: { parsed, context in
    // An empty --dataset is an error, not a request for the list.
    let dataset: String? = parsed.value("dataset") == nil ? nil : try required(parsed, "dataset")
    let connection = try context.connect()
    defer { connection.close() }
    let lines =
      try dataset.map { try summaryLines(connection, dataset: $0) }
      ?? datasetOverviewLines(connection)
    for line in lines {
      context.print(line)
    }
  })
