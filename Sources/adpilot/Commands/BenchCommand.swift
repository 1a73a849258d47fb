// `adpilot bench` measures AdPilot's side of the benchmarks on in-memory data and prints the
// figure as its last line, so a benchmark script can compare it with a peer run.

import AdPilot
import CTR
import Foundation

let benchCommand = Command(
  name: "bench",
  summary:
    "measure training or scoring throughput, the GEMM kernel, planning time or SQL scoring",
  usage: "bench train|score [--threads N] [--steps N] [--batch-size N]\n"
    + "       adpilot bench train --activation relu|dice\n"
    + "       adpilot bench gemm --shape MxKxN [--steps N]\n"
    + "       adpilot bench allocate [--campaigns N] [--seed N] [--constrained] "
    + "[--problem-out FILE]\n"
    + "       adpilot bench pacing [--impressions N] [--days N] [--budget-fraction F]\n"
    + "       adpilot bench load --dataset NAME [--repeats N] [--batch-size N]\n"
    + "       adpilot bench sql [--rows N] [--requests N]",
  options: [
    .value("threads", "N", "threads per step (default 1)"),
    .value("steps", "N", "batches measured (default 20)"),
    .value("batch-size", "N", "rows per batch (default 1024)"),
    .value("activation", "relu|dice", "bench train: final-MLP hidden activation (default relu)"),
    .value("campaigns", "N", "bench allocate: synthetic campaigns planned (default 10000)"),
    .value("seed", "N", "bench allocate: seed of the synthetic problem (default 1)"),
    .flag("constrained", "bench allocate: add minimums, maximums and two priority tiers"),
    .value("problem-out", "FILE", "bench allocate: write the problem and AdPilot's value as JSON"),
    .value("impressions", "N", "bench pacing: impressions per synthetic day (default 1000000)"),
    .value("days", "N", "bench pacing: synthetic days replayed (default 3)"),
    .value(
      "budget-fraction", "F", "bench pacing: budget as a fraction of the day's cost (default 1/4)"),
    .value("shape", "MxKxN", "bench gemm: an [M x K] by [K x N] product, e.g. 1024x288x200"),
    .value("dataset", "NAME", "bench load: the data set whose training rows are read"),
    .value("repeats", "N", "bench load: runs of each reader, the fastest kept (default 3)"),
    .value("rows", "N", "bench sql: request-ad rows scored each way (default 1000000)"),
    .value("requests", "N", "bench sql: score_candidates round trips timed (default 10000)"),
  ],
  maxPositionals: 1,
  run: { parsed, context in
    try checkBenchOptions(parsed)
    let threads = try parsed.int("threads", default: 1)
    let steps = try parsed.int("steps", default: 20)
    let batchSize = try parsed.int("batch-size", default: 1024)
    for (name, value, limit) in [
      ("threads", threads, 256), ("steps", steps, 100_000), ("batch-size", batchSize, 65_536),
    ] where !(1...limit).contains(value) {
      throw UsageError(message: "--\(name) must be between 1 and \(limit), got \(value)")
    }
    // bench sql times `adpilot score`, which runs with glibc's default malloc settings.
    if parsed.positionals.first != "sql" { keepFreedMemoryForReuse() }
    switch parsed.positionals.first {
    case "train":
      let name = parsed.value("activation") ?? MLPActivation.relu.rawValue
      guard let activation = MLPActivation(rawValue: name) else {
        throw UsageError(message: "--activation must be relu or dice, got '\(name)'")
      }
      let rate = try ReferenceBenchmark.trainingThroughput(
        steps: steps, batchSize: batchSize, threads: threads, activation: activation)
      let multiplyAdds = try ReferenceBenchmark.trainingMultiplyAddsPerSample()
      context.print("multiply_adds_per_sample=\(multiplyAdds)")
      context.print("samples_per_s=\(Int(rate))")
    case "score":
      let rate = try ReferenceBenchmark.inferenceThroughput(
        steps: steps, batchSize: batchSize, threads: threads)
      context.print("samples_per_s=\(Int(rate))")
    case "allocate":
      try runAllocationBench(parsed, context)
    case "pacing":
      try runPacingBench(parsed, context)
    case "load":
      try runLoadBench(parsed, context, batchSize: batchSize)
    case "sql":
      try runSQLBench(parsed, context)
    case "gemm":
      let text = try required(parsed, "shape")
      let shape = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
      // Each of the three matrices must fit in memory: at most 2^28 floats (1 GiB) apiece.
      let limit = 1 << 28
      guard shape.count == 3, shape.allSatisfy({ (1...limit).contains($0) }),
        shape[0] * shape[1] <= limit, shape[1] * shape[2] <= limit, shape[0] * shape[2] <= limit
      else {
        throw UsageError(
          message: "--shape must be three positive integers MxKxN whose matrices hold at most "
            + "2^28 floats each, e.g. 1024x288x200; got '\(text)'")
      }
      let rate = GemmBenchmark.gflops(m: shape[0], k: shape[1], n: shape[2], repeats: steps)
      context.print("gflops=\(String(format: "%.1f", rate))")
    default:
      throw UsageError(message: "expected train, score, gemm, allocate, pacing, load or sql")
    }
  })

/// The options each `bench` subcommand reads.
let benchOptions: [String: [String]] = [
  "train": ["threads", "steps", "batch-size", "activation"],
  "score": ["threads", "steps", "batch-size"],
  "gemm": ["shape", "steps"],
  "allocate": ["campaigns", "seed", "constrained", "problem-out"],
  "pacing": ["impressions", "days", "budget-fraction"],
  "load": ["dataset", "repeats", "batch-size"],
  "sql": ["rows", "requests"],
]

/// Rejects an option that the chosen `bench` subcommand does not read, naming the ones it does.
func checkBenchOptions(_ parsed: ParsedArguments) throws {
  guard let subcommand = parsed.positionals.first, let allowed = benchOptions[subcommand] else {
    return
  }
  let passed = Set(parsed.values.keys).union(parsed.flags)
  if let stray = passed.subtracting(allowed).sorted().first {
    throw UsageError(
      message: "--\(stray) does not apply to bench \(subcommand); it takes "
        + allowed.map { "--\($0)" }.joined(separator: ", "))
  }
}

/// Reads a data set's training rows as training does and as a bare COPY, and prints both rates.
func runLoadBench(_ parsed: ParsedArguments, _ context: Context, batchSize: Int) throws {
  let dataset = try required(parsed, "dataset")
  let repeats = try parsed.int("repeats", default: 3)
  guard repeats >= 1 else { throw UsageError(message: "--repeats must be at least 1") }
  let connection = try context.connect()
  defer { connection.close() }
  let result = try LoadBenchmark.run(
    connection: connection, dataset: dataset, batchSize: batchSize, repeats: repeats)
  let megabytes = Double(result.copyBytes) / 1_048_576
  context.print(
    "rows=\(result.rows) copy_mib=\(String(format: "%.1f", megabytes)) "
      + "batches=\(result.batches) repeats=\(repeats)")
  context.print(
    "bare_copy rows_per_s=\(Int(result.copyRowsPerSecond)) "
      + "(\(String(format: "%.2f", result.copySeconds)) s)")
  context.print(
    "training_load rows_per_s=\(Int(result.loadRowsPerSecond)) "
      + "(\(String(format: "%.2f", result.loadSeconds)) s)")
  context.print("ratio=\(String(format: "%.3f", result.ratio))")
}
