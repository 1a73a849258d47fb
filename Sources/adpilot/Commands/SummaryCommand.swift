// `adpilot summary` prints what the database holds for a data set and checks the current
// plan's invariants.

import AdPilot

let summaryCommand = Command(
  name: "summary",
  summary: "report a data set's logs, models, current plan and scored requests",
  usage: "summary --dataset NAME",
  options: [.value("dataset", "NAME", "data set to report on")],
  run: { parsed, context in
    let dataset = try required(parsed, "dataset")
    let connection = try context.connect()
    defer { connection.close() }
    for line in try summaryLines(connection, dataset: dataset) {
      context.print(line)
    }
  })
