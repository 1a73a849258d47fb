// A training-speed probe, off unless CTR_BENCHMARK is set; run it in release only:
//   CTR_BENCHMARK=1 swift test -c release --filter trainingThroughput
// It asserts nothing about time; it prints samples per second for a Taobao-like shape.

import Foundation
import Testing

@testable import CTR

@Test(.enabled(if: ProcessInfo.processInfo.environment["CTR_BENCHMARK"] != nil))
func trainingThroughput() throws {
  let spec = FeatureSpec(
    categorical: [
      CategoricalField(name: "user_id", role: .user, buckets: 100_000),
      CategoricalField(name: "age", role: .user, buckets: 10),
      CategoricalField(name: "gender", role: .user, buckets: 3),
      CategoricalField(name: "ad_id", role: .ad, buckets: 100_000),
      CategoricalField(name: "category", role: .ad, buckets: 10_000),
      CategoricalField(name: "brand", role: .ad, buckets: 50_000),
      CategoricalField(name: "hour", role: .context, buckets: 25),
    ],
    numeric: [NumericField(name: "price", role: .ad, buckets: 20)],
    sequence: [
      SequenceField(name: "hist_category", sharesEmbeddingWith: "category"),
      SequenceField(name: "hist_brand", sharesEmbeddingWith: "brand"),
    ],
    maxSequenceLength: 50)

  var random = SplitMix64(seed: 1)
  let encoder = FeatureEncoder(spec: spec)
  var rows: [(cat: [String?], num: [Double?], seq: [String?], label: Float)] = []
  for _ in 0..<1024 {
    let length = 20 + Int(random.next() % 31)
    var seq: [String?] = []
    for _ in 0..<length {
      seq.append("c\(random.next() % 5000)")
      seq.append("b\(random.next() % 20000)")
    }
    let cat: [String?] = (0..<7).map { _ in "v\(random.next() % 50000)" }
    rows.append((cat, [Double(random.next() % 100)], seq, Float(random.next() % 2)))
  }
  var batch = EncodedBatch(spec: spec, capacity: 1024)
  let clock = ContinuousClock()
  let encodeTime = clock.measure {
    for _ in 0..<20 {
      batch.removeAll()
      for row in rows {
        encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &batch)
      }
    }
  }
  let encodeSeconds =
    Double(encodeTime.components.seconds) + Double(encodeTime.components.attoseconds) * 1e-18
  print("encode.rows_per_s=\(Int(20 * 1024 / encodeSeconds))")

  var model = try AttentionModel(spec: spec, config: TrainingConfig(), seed: 1)
  for threads in [1, 2] {
    var config = TrainingConfig()
    config.threads = threads
    model = try AttentionModel(spec: spec, config: config, seed: 1)
    let trainer = try Trainer(model: model, config: config)
    _ = try trainer.trainStep(batch)
    let steps = 5
    let elapsed = try clock.measure {
      for _ in 0..<steps { _ = try trainer.trainStep(batch) }
    }
    let seconds =
      Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    print("train.threads=\(threads) train.samples_per_s=\(Int(Double(steps * 1024) / seconds))")
  }

  let predictTime = clock.measure { _ = model.predict(batch) }
  let predictSeconds =
    Double(predictTime.components.seconds) + Double(predictTime.components.attoseconds) * 1e-18
  print("predict.samples_per_s=\(Int(1024 / predictSeconds))")
}
