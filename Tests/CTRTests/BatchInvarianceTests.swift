// A row's score must not depend on the batch it is scored in: the same rows in other orders,
// compositions, slice sizes and thread counts must give the same bits as each row alone. The
// widths are the pipeline's (attention unit 100 and 40, final MLP 200 and 80, embeddings of 16),
// so products of 48 rows or more take the packed kernel path and smaller ones do not.

import Testing

@testable import CTR

/// Returns a model of the pipeline's widths, trained for two steps so that some embedding rows
/// stay untrained and prediction replaces them by row 0.
private func pipelineModel(_ spec: FeatureSpec, activation: MLPActivation) throws
  -> AttentionModel
{
  var config = TrainingConfig()
  config.attentionHidden = [100, 40]
  config.mlpHidden = [200, 80]
  config.mlpActivation = activation
  config.learningRate = 0.01
  let model = try AttentionModel(spec: spec, config: config, seed: 8)
  for index in model.embeddings.indices { model.embeddings[index] *= 10 }
  let trainer = try Trainer(model: model, config: config)
  for step in 0..<2 {
    _ = try trainer.trainStep(Fixtures.batch(spec: spec, count: 64, seed: 100 + UInt64(step)))
  }
  return model
}

/// Returns rows with behaviour lists of 0 to `maxLength` items, some rows with none and every
/// seventh row a copy of the row before, the way candidates of one request share a history.
private func mixedRows(spec: FeatureSpec, count: Int, seed: UInt64) -> [Fixtures.RawRow] {
  var rows = Fixtures.rows(spec: spec, count: count, seed: seed)
  for index in stride(from: 3, to: count, by: 11) { rows[index].seq = [] }
  for index in stride(from: 7, to: count, by: 7) { rows[index] = rows[index - 1] }
  return rows
}

private func bits(_ scores: [Float]) -> [UInt32] { scores.map(\.bitPattern) }

private let invarianceSpecs = [
  Fixtures.sequenceSpec(dimension: 16, maxLength: 120), Fixtures.profileSpec(dimension: 16),
  Fixtures.plainSpec(dimension: 16),
]

@Test func scoresIgnoreBatchComposition() throws {
  for spec in invarianceSpecs {
    for activation in [MLPActivation.relu, .dice] {
      let model = try pipelineModel(spec, activation: activation)
      let rows = mixedRows(spec: spec, count: 300, seed: 31)
      let batch = Fixtures.encode(rows, spec: spec)
      let alone = (0..<batch.count).flatMap { model.predict(batch.slice($0..<($0 + 1))) }
      let label = "\(spec.categorical.map(\.name)) \(activation)"
      #expect(alone.allSatisfy { $0 > 0 }, "\(label)")
      #expect(alone.allSatisfy { $0 < 1 }, "\(label)")
      #expect(Set(alone).count > 100, "\(label)")

      #expect(bits(model.predict(batch)) == bits(alone), "\(label) whole batch")
      for threads in [2, 3, 7] {
        #expect(
          bits(model.predict(batch, threads: threads)) == bits(alone), "\(label) \(threads)")
      }

      // Slices of 47, 48, 49 and 257 rows: below and above the packed product's 48 rows
      // and the 256-row prediction chunk.
      for size in [47, 48, 49, 257] {
        var sliced: [Float] = []
        var start = 0
        while start < batch.count {
          let end = min(start + size, batch.count)
          sliced += model.predict(batch.slice(start..<end))
          start = end
        }
        #expect(bits(sliced) == bits(alone), "\(label) slices of \(size)")
      }

      // The same rows reversed and then shuffled, each beside other neighbours.
      let reversed = Fixtures.encode(rows.reversed(), spec: spec)
      #expect(
        bits(model.predict(reversed)) == bits(alone.reversed()), "\(label) reversed order")
      var random = SplitMix64(seed: 77)
      let order = Array(0..<rows.count).shuffled(using: &random)
      let shuffled = Fixtures.encode(order.map { rows[$0] }, spec: spec)
      #expect(
        bits(model.predict(shuffled)) == bits(order.map { alone[$0] }), "\(label) shuffled")
    }
  }
}

@Test func missingItemsScoreLikeShorterHistory() throws {
  // Items whose sub-fields are all missing are padding: inserted between, before or after the
  // real items, they must leave the score's bits unchanged.
  let spec = Fixtures.sequenceSpec(dimension: 16, maxLength: 120)
  let model = try pipelineModel(spec, activation: .relu)
  let rows = mixedRows(spec: spec, count: 60, seed: 32)
  let padded = rows.enumerated().map { index, row in
    var row = row
    var seq: [String?] = [nil, nil]
    for item in stride(from: 0, to: row.seq.count, by: 2) {
      seq += row.seq[item..<(item + 2)]
      if item % 3 == index % 3 { seq += [nil, ""] }
    }
    row.seq = seq + [nil, nil, "", ""]
    return row
  }
  let plain = model.predict(Fixtures.encode(rows, spec: spec))
  let withPadding = model.predict(Fixtures.encode(padded, spec: spec))
  #expect(bits(withPadding) == bits(plain))
}

@Test func longHistoriesIgnoreBatchComposition() throws {
  // Histories of up to 2,000 items: the attention unit's first layer then runs a row's keys
  // through the packed product's 192-row blocks, and rows of 0, 1 and 47 keys beside them
  // through the unpacked tile.
  let spec = Fixtures.sequenceSpec(dimension: 16, maxLength: 2000)
  let model = try pipelineModel(spec, activation: .relu)
  var rows = Fixtures.rows(spec: spec, count: 12, seed: 33)
  var random = SplitMix64(seed: 34)
  for index in rows.indices {
    let length = [0, 1, 47, 48, 193, 767, 768, 769, 2000, 2500][index % 10]
    rows[index].seq = (0..<(2 * length)).map { _ in "v\(random.next() % 30)" }
  }
  // The row of 2,500 items again, cut to the spec's 2,000, which is all the encoder keeps.
  var truncated = rows[9]
  truncated.seq = Array(truncated.seq.prefix(4000))
  rows.append(truncated)
  let batch = Fixtures.encode(rows, spec: spec)
  let whole = model.predict(batch)
  let alone = (0..<batch.count).flatMap { model.predict(batch.slice($0..<($0 + 1))) }
  #expect(bits(whole) == bits(alone))
  #expect(bits(model.predict(batch, threads: 3)) == bits(alone))
  // The pooled interest is an unnormalized sum over the keys, so a long history can saturate
  // the sigmoid at exactly 1, but never give NaN.
  #expect(whole.allSatisfy { $0 >= 0 }, "\(whole)")
  #expect(whole.allSatisfy { $0 <= 1 }, "\(whole)")
  #expect(whole[12].bitPattern == whole[9].bitPattern)
}
