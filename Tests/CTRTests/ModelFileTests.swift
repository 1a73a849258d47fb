// Tests of the model file: bit-identical round trips for every kind, and clear errors for wrong
// magic, version, truncation, extra bytes and corruption.

import Foundation
import Testing

@testable import CTR

private func trainedModels() throws -> [(any ClickModel, EncodedBatch)] {
  var result: [(any ClickModel, EncodedBatch)] = []
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    var config = Fixtures.smallConfig()
    config.negativeSampleRate = 0.5
    let batch = Fixtures.batch(spec: spec, count: 40, seed: 12)
    for model in [
      try AttentionModel(spec: spec, config: config, seed: 5) as any ClickModel,
      try LogisticModel(spec: spec, config: config, seed: 5),
    ] {
      let trainer = try Trainer(model: model, config: config)
      for _ in 0..<3 { _ = try trainer.trainStep(batch) }
      result.append((model, batch))
    }
  }
  return result
}

private func loadError(_ bytes: [UInt8]) -> CTRError? {
  do {
    _ = try loadModel(bytes)
    return nil
  } catch {
    return error
  }
}

@Test func roundTripKeepsPredictionsBitForBit() throws {
  for (model, batch) in try trainedModels() {
    let bytes = model.serialized()
    let loaded = try loadModel(bytes)
    #expect(loaded.kind == model.kind)
    #expect(loaded.spec == model.spec)
    #expect(loaded.predict(batch) == model.predict(batch))
    #expect(loaded.serialized() == bytes)
  }
}

@Test func roundTripKeepsHyperParameters() throws {
  var config = TrainingConfig()
  config.attentionHidden = [5, 3]
  config.mlpHidden = [9]
  let model = try AttentionModel(spec: Fixtures.sequenceSpec(), config: config, seed: 1)
  let loaded = try #require(try loadModel(model.serialized()) as? AttentionModel)
  #expect(loaded.attentionHidden == [5, 3])
  #expect(loaded.mlpHidden == [9])
  #expect(loaded.negativeSampleRate == 1)
}

@Test func fileStartsWithMagicAndVersion() throws {
  let bytes = try AttentionModel(
    spec: Fixtures.plainSpec(), config: Fixtures.smallConfig(), seed: 1
  ).serialized()
  #expect(Array(bytes[0..<8]) == Array("ADPCTR\r\n".utf8))
  #expect(Array(bytes[8..<12]) == [3, 0, 0, 0])
  var length: UInt64 = 0
  for index in 0..<8 { length |= UInt64(bytes[12 + index]) << (8 * UInt64(index)) }
  #expect(length == UInt64(bytes.count))
}

@Test func corruptFilesAreRejected() throws {
  let bytes = try AttentionModel(
    spec: Fixtures.sequenceSpec(), config: Fixtures.smallConfig(), seed: 1
  ).serialized()

  var wrongMagic = bytes
  wrongMagic[0] = UInt8(ascii: "X")
  #expect(loadError(wrongMagic)?.message.contains("wrong magic bytes") == true)
  #expect(loadError([])?.message.contains("wrong magic bytes") == true)

  var newerVersion = bytes
  newerVersion[8] = 4
  #expect(loadError(newerVersion)?.message.contains("format version 4 is not supported") == true)
  var zeroVersion = bytes
  zeroVersion[8] = 0
  #expect(loadError(zeroVersion)?.message.contains("format version 0 is not supported") == true)

  let truncated = Array(bytes.dropLast(10))
  #expect(loadError(truncated)?.message.contains("truncated") == true)
  #expect(loadError(Array(bytes[0..<15]))?.message.contains("truncated") == true)
  #expect(loadError(bytes + [0])?.message.contains("extra bytes") == true)

  for position in [40, bytes.count / 2, bytes.count - 5, bytes.count - 1] {
    var flipped = bytes
    flipped[position] ^= 0x10
    let error = loadError(flipped)
    #expect(error?.kind == .invalidModelFile)
    #expect(error?.message.contains("checksum mismatch") == true, "byte \(position)")
  }
  #expect(loadError(bytes) == nil)
}

@Test func crc32MatchesCheckValue() {
  // The standard check value of CRC-32/ISO-HDLC over "123456789".
  #expect(CRC32.checksum(Array("123456789".utf8)[...]) == 0xCBF4_3926)
}

@Test func specJSONUsesDefaultKeys() throws {
  let spec = Fixtures.sequenceSpec()
  let json = try JSONEncoder().encode(spec)
  let text = String(decoding: json, as: UTF8.self)
  #expect(text.contains("\"sharesEmbeddingWith\":\"ad_category\""))
  #expect(text.contains("\"maxSequenceLength\":5"))
  #expect(text.contains("\"role\":\"ad\""))
  #expect(try JSONDecoder().decode(FeatureSpec.self, from: json) == spec)
}

/// The bytes of the activation field of a ReLU model: the length 4, then "relu".
private let reluActivationField: [UInt8] = [4, 0, 0, 0] + Array("relu".utf8)

/// Rewrites a current file of a ReLU model as format version `version` (1 or 2). Both end
/// without the activation field, and version 1 also without the trained-row record, which
/// must cover 0 rows. Fixes version, length and CRC.
func olderVersionFile(_ bytes: [UInt8], version: UInt8) -> [UInt8] {
  let dropped = reluActivationField.count + (version == 1 ? 8 : 0)
  var body = Array(bytes.dropLast(4 + dropped))
  body[8] = version
  let length = UInt64(body.count + 4)
  for index in 0..<8 {
    body[12 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(index)))
  }
  let crc = CRC32.checksum(body[...])
  for index in 0..<4 {
    body.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(index))))
  }
  return body
}

@Test func versionOneFilesStillLoad() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    let config = Fixtures.smallConfig()
    for model in [
      try AttentionModel(spec: spec, config: config, seed: 5) as any ClickModel,
      try LogisticModel(spec: spec, config: config, seed: 5),
    ] {
      let current = model.serialized()
      // An untrained ReLU model ends with a record covering 0 rows (8 zero bytes) and the
      // activation before the CRC.
      let tail = Array(current[(current.count - 20)..<(current.count - 4)])
      #expect(tail == [0, 0, 0, 0, 0, 0, 0, 0] + reluActivationField)
      let old = olderVersionFile(current, version: 1)
      let loaded = try loadModel(old)
      let batch = Fixtures.batch(spec: spec, count: 20, seed: 3)
      #expect(loaded.predict(batch) == model.predict(batch))
      #expect(loaded.serialized() == current)
    }
  }
}

@Test func versionTwoFilesLoadAsReLU() throws {
  for (model, batch) in try trainedModels() {
    let current = model.serialized()
    #expect(Array(current[(current.count - 12)..<(current.count - 4)]) == reluActivationField)
    let old = olderVersionFile(current, version: 2)
    #expect(old[8] == 2)
    let loaded = try loadModel(old)
    #expect((loaded as? AttentionModel)?.mlpActivation ?? .relu == .relu)
    #expect(loaded.predict(batch) == model.predict(batch))
    #expect(loaded.serialized() == current)
  }
}

@Test func trainedRowRecordOfWrongSizeIsRejected() throws {
  let (model, _) = try trainedModels()[0]
  let bytes = model.serialized()
  let attention = try #require(model as? AttentionModel)
  let rows = try #require(attention.trainedRows).count
  // The record starts with its row count, right after the dense weights, and the activation
  // field follows it.
  let recordStart = bytes.count - 4 - reluActivationField.count - 8 - 8 * ((rows + 63) / 64)
  var body = Array(bytes.dropLast(4))
  body[recordStart] &+= 64
  let crc = CRC32.checksum(body[...])
  for index in 0..<4 {
    body.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(index))))
  }
  #expect(loadError(body)?.kind == .invalidModelFile)
}

@Test func hugeDeclaredShapesAreRejectedBeforeAllocation() throws {
  // Valid files, checksum included, whose spec and widths declare tables of terabytes while
  // they store one weight each. Building such a model before the shape check aborts the process.
  let hugeTables = FeatureSpec(
    categorical: [CategoricalField(name: "c1", role: .context, buckets: 2_000_000_000)],
    embeddingDimension: 1024)
  let hugeLayers = Fixtures.plainSpec()
  let cases: [(ModelKind, FeatureSpec, [Int], String)] = [
    (.dnn, hugeTables, [4], "embeddings have 1 values"),
    (.dnn, hugeLayers, [1 << 20, 1 << 20], "embeddings have 1 values"),
    (.logistic, hugeTables, [], "embeddings have 1 values"),
  ]
  for (kind, spec, mlpHidden, message) in cases {
    let bytes = ModelFile.write(
      kind: kind, spec: spec, attentionHidden: [], mlpHidden: mlpHidden,
      negativeSampleRate: 1, embeddings: [0], dense: [0], trainedRows: nil,
      activation: .relu, diceStatistics: nil)
    let error = loadError(bytes)
    #expect(error?.kind == .invalidModelFile, "\(kind) \(mlpHidden)")
    #expect(error?.message.contains(message) == true, "\(kind) \(mlpHidden)")
  }

  // Right-sized embeddings leave the dense weights to be checked against the huge layers.
  let plain = try AttentionModel(
    spec: hugeLayers, config: Fixtures.smallConfig(), seed: 1)
  let bytes = ModelFile.write(
    kind: .dnn, spec: hugeLayers, attentionHidden: [], mlpHidden: [1 << 20, 1 << 20],
    negativeSampleRate: 1, embeddings: plain.embeddings, dense: [0], trainedRows: nil,
    activation: .relu, diceStatistics: nil)
  #expect(loadError(bytes)?.message.contains("dense weights have 1 values") == true)
}
