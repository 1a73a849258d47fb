// The reference configuration of the CTR benchmarks: 16 categorical fields (8 user, 5 ad,
// 3 context), behaviour sequences of 50 items embedded as category + brand, batch 1024. It
// builds random batches in memory, so the figures measure the model alone, not I/O.

import CTR
import Foundation

/// Throughput measurements of the reference model.
public enum ReferenceBenchmark {
  /// Returns the reference feature spec: 8 user, 5 ad and 3 context fields, 50-item sequences.
  public static func spec(sequenceLength: Int = 50) -> FeatureSpec {
    var categorical: [CategoricalField] = []
    for index in 0..<8 {
      categorical.append(CategoricalField(name: "user_\(index)", role: .user, buckets: 10_000))
    }
    categorical.append(CategoricalField(name: "ad_category", role: .ad, buckets: 1_000))
    categorical.append(CategoricalField(name: "ad_brand", role: .ad, buckets: 10_000))
    for index in 0..<3 {
      categorical.append(CategoricalField(name: "ad_\(index)", role: .ad, buckets: 10_000))
    }
    for index in 0..<3 {
      categorical.append(CategoricalField(name: "context_\(index)", role: .context, buckets: 100))
    }
    return FeatureSpec(
      categorical: categorical, numeric: [],
      sequence: [
        SequenceField(name: "history_category", sharesEmbeddingWith: "ad_category"),
        SequenceField(name: "history_brand", sharesEmbeddingWith: "ad_brand"),
      ],
      maxSequenceLength: sequenceLength, embeddingDimension: 16)
  }

  /// Returns `count` random batches of the reference spec with full-length sequences.
  public static func batches(
    spec: FeatureSpec, count: Int, batchSize: Int, seed: UInt64
  ) -> [EncodedBatch] {
    var random = SeededGenerator(seed: seed)
    let encoder = FeatureEncoder(spec: spec)
    var result: [EncodedBatch] = []
    for _ in 0..<count {
      var batch = EncodedBatch(spec: spec, capacity: batchSize)
      for _ in 0..<batchSize {
        let cat: [String?] = spec.categorical.map { field in
          String(Int.random(in: 0..<field.buckets, using: &random))
        }
        var seq: [String?] = []
        for _ in 0..<spec.maxSequenceLength {
          seq.append(String(Int.random(in: 0..<1_000, using: &random)))
          seq.append(String(Int.random(in: 0..<10_000, using: &random)))
        }
        let label: Float = Int.random(in: 0..<100, using: &random) < 4 ? 1 : 0
        encoder.append(cat: cat, num: [], seq: seq, label: label, to: &batch)
      }
      result.append(batch)
    }
    return result
  }

  /// Returns the reference training settings: activation unit 128-80-40-1, MLP 288-200-80-1.
  static func config(batchSize: Int, threads: Int, activation: MLPActivation) -> TrainingConfig {
    var config = TrainingConfig()
    config.batchSize = batchSize
    config.attentionHidden = [80, 40]
    config.mlpHidden = [200, 80]
    config.mlpActivation = activation
    config.threads = threads
    return config
  }

  /// Returns the dense layers' multiply-adds of one training step per sample of the reference
  /// model, whose rows all carry full-length sequences (see
  /// `AttentionModel.trainingMultiplyAdds(keys:)`).
  public static func trainingMultiplyAddsPerSample() throws -> Int {
    let spec = spec()
    let config = config(batchSize: 1024, threads: 1, activation: .relu)
    let model = try AttentionModel(spec: spec, config: config, seed: 1)
    return model.trainingMultiplyAdds(keys: spec.maxSequenceLength)
  }

  /// Trains the reference model for `steps` batches and returns samples per second.
  public static func trainingThroughput(
    steps: Int, batchSize: Int, threads: Int, activation: MLPActivation = .relu
  ) throws -> Double {
    let spec = spec()
    let config = config(batchSize: batchSize, threads: threads, activation: activation)
    let model = try AttentionModel(spec: spec, config: config, seed: 1)
    let trainer = try Trainer(model: model, config: config)
    let data = batches(spec: spec, count: min(steps, 8), batchSize: batchSize, seed: 2)
    _ = try trainer.trainStep(data[0])  // warm-up: first touch of the weights and buffers
    let started = Date()
    for step in 0..<steps {
      _ = try trainer.trainStep(data[step % data.count])
    }
    return Double(steps * batchSize) / Date().timeIntervalSince(started)
  }

  /// Scores `steps` batches with the reference model, each batch split over `threads` threads,
  /// and returns samples per second.
  public static func inferenceThroughput(steps: Int, batchSize: Int, threads: Int = 1) throws
    -> Double
  {
    let spec = spec()
    let model = try AttentionModel(spec: spec, config: TrainingConfig(), seed: 1)
    let data = batches(spec: spec, count: min(steps, 8), batchSize: batchSize, seed: 2)
    _ = model.predict(data[0], threads: threads)
    let started = Date()
    var checksum: Float = 0
    for step in 0..<steps {
      checksum += model.predict(data[step % data.count], threads: threads)[0]
    }
    precondition(checksum.isFinite, "reference model produced a non-finite score")
    return Double(steps * batchSize) / Date().timeIntervalSince(started)
  }
}
