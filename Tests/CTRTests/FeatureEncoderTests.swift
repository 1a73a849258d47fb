// Tests of the feature encoder: FNV-1a hashing, missing values, numeric buckets, sequences.
// Expected rows follow from the formulas in FeatureEncoder's documentation.

import Testing

@testable import CTR

private let spec = FeatureSpec(
  categorical: [
    CategoricalField(name: "user", role: .user, buckets: 10),
    CategoricalField(name: "category", role: .ad, buckets: 50),
  ],
  numeric: [NumericField(name: "price", role: .ad, buckets: 12)],
  sequence: [SequenceField(name: "hist_category", sharesEmbeddingWith: "category")],
  maxSequenceLength: 3)

@Test func fnvMatchesPublishedVectors() {
  // FNV-1a 64 test vectors from the reference implementation (offset basis as the seed).
  #expect(FNV1a.hash("", seed: FNV1a.offsetBasis) == 0xcbf2_9ce4_8422_2325)
  #expect(FNV1a.hash("a", seed: FNV1a.offsetBasis) == 0xaf63_dc4c_8601_ec8c)
  #expect(FNV1a.hash("foobar", seed: FNV1a.offsetBasis) == 0x8594_4171_f739_67e8)
}

@Test func categoricalRowFollowsSeededHash() {
  let encoder = FeatureEncoder(spec: spec)
  var state = FNV1a.offsetBasis
  for byte in Array("category".utf8) + [0xFF] + Array("shoes".utf8) {
    state = (state ^ UInt64(byte)) &* FNV1a.prime
  }
  // The "category" table starts after the 10 rows of "user".
  #expect(encoder.categoricalRow(field: 1, value: "shoes") == 10 + 1 + Int(state % 49))
}

@Test func missingValuesUseRowZero() {
  let encoder = FeatureEncoder(spec: spec)
  #expect(encoder.categoricalRow(field: 0, value: nil) == 0)
  #expect(encoder.categoricalRow(field: 0, value: "") == 0)
  #expect(encoder.categoricalRow(field: 1, value: nil) == 10)
  #expect(encoder.numericRow(field: 0, value: nil) == 60)
  #expect(encoder.numericRow(field: 0, value: .nan) == 60)
}

@Test func fieldSeedsSeparateTables() {
  let encoder = FeatureEncoder(spec: spec)
  let userRow = encoder.categoricalRow(field: 0, value: "x") - 0
  let categoryRow = encoder.categoricalRow(field: 1, value: "x") - 10
  #expect(FNV1a.seed(fieldName: "user") != FNV1a.seed(fieldName: "category"))
  #expect(userRow >= 1)
  #expect(userRow < 10)
  #expect(categoryRow >= 1)
  #expect(categoryRow < 50)
}

@Test func numericBucketsFollowLogFormula() {
  // 2 + floor(2 * log2(1 + x)), capped at buckets - 1 = 11.
  let cases: [(Double?, Int)] = [
    (nil, 0), (-3, 1), (0, 1), (0.4, 2), (0.5, 3), (1, 4), (2, 5), (3, 6), (7, 8),
    (15, 10), (31, 11), (1e30, 11), (.infinity, 11), (-.infinity, 1),
  ]
  for (value, bucket) in cases {
    #expect(
      FeatureEncoder.numericBucket(value, buckets: 12) == bucket,
      "value \(String(describing: value))")
  }
  #expect(FeatureEncoder.numericBucket(5, buckets: 2) == 1)
}

@Test func sequenceSharesAdFieldHashing() {
  let encoder = FeatureEncoder(spec: spec)
  var batch = EncodedBatch(spec: spec, capacity: 1)
  encoder.append(
    cat: ["u1", "shoes"], num: [3], seq: ["shoes", "hats"], label: 1, to: &batch)
  let shoes = Int32(encoder.categoricalRow(field: 1, value: "shoes"))
  let hats = Int32(encoder.categoricalRow(field: 1, value: "hats"))
  #expect(batch.fieldRows[1] == shoes)
  #expect(batch.sequenceRows == [shoes, hats, 0])
  #expect(batch.sequenceLengths == [2])
  #expect(batch.labels == [1])
  #expect(batch.count == 1)
}

@Test func sequenceDropsPaddingAndTruncates() {
  let encoder = FeatureEncoder(spec: spec)
  var batch = EncodedBatch(spec: spec, capacity: 2)
  // Items 2 and 4 are all-missing padding; five real items are cut to the first three.
  encoder.append(
    cat: ["u", "a"], num: [1], seq: ["a", nil, "b", "", "c", "d", "e"], label: 0, to: &batch)
  let row = { (value: String) in Int32(encoder.categoricalRow(field: 1, value: value)) }
  #expect(batch.sequenceRows == [row("a"), row("b"), row("c")])
  #expect(batch.sequenceLengths == [3])

  encoder.append(cat: [], num: [], seq: [nil, nil], label: 0, to: &batch)
  #expect(batch.fieldRows.suffix(3) == [0, 10, 60])
  #expect(batch.sequenceRows.suffix(3) == [0, 0, 0])
  #expect(batch.sequenceLengths == [3, 0])
}

@Test func batchSliceAndRemoveAll() {
  var batch = Fixtures.batch(spec: Fixtures.sequenceSpec(), count: 6, seed: 3)
  let slice = batch.slice(2..<5)
  #expect(slice.count == 3)
  #expect(slice.labels == Array(batch.labels[2..<5]))
  #expect(slice.fieldRows == Array(batch.fieldRows[(2 * 5)..<(5 * 5)]))
  #expect(slice.sequenceLengths == Array(batch.sequenceLengths[2..<5]))
  batch.removeAll()
  #expect(batch.count == 0)
  #expect(batch.fieldRows.isEmpty)
}

@Test func specValidationRejectsBadSpecs() {
  var bad = spec
  bad.categorical[0].buckets = 1
  #expect(throws: CTRError.self) { try bad.validate() }
  bad = spec
  bad.sequence[0].sharesEmbeddingWith = "user"
  #expect(throws: CTRError.self) { try bad.validate() }
  bad = spec
  bad.sequence[0].sharesEmbeddingWith = "nope"
  #expect(throws: CTRError.self) { try bad.validate() }
  bad = spec
  bad.numeric[0].name = "user"
  #expect(throws: CTRError.self) { try bad.validate() }
  bad = spec
  bad.maxSequenceLength = 0
  #expect(throws: CTRError.self) { try bad.validate() }
  #expect(throws: Never.self) { try spec.validate() }
}

@Test func recordCheckFindsEachInvalidWord() {
  let encoder = FeatureEncoder(spec: spec)
  // Label, "user" (rows 0..<10), "category" (10..<60), "price" (60..<72), the behaviour count,
  // then three behaviour slots in the "category" table.
  var record = [Int32](repeating: 0, count: encoder.recordWidth)
  record.withUnsafeMutableBufferPointer { words in
    guard let base = words.baseAddress else { return }
    var writer = EncodedRecordWriter(encoder: encoder, record: base)
    writer.appendCategorical(nil)
    writer.appendCategorical(nil)
    writer.appendNumeric(3)
    for item in ["shoes", "hats"] {
      let bytes = Array(item.utf8)
      bytes.withUnsafeBytes { writer.appendSequenceValue($0) }
    }
    writer.finish(label: 1)
  }
  #expect(record.count == 8)
  #expect(record[4] == 2)
  #expect(record.withUnsafeBufferPointer { encoder.firstInvalidWord(in: $0.baseAddress!) } == nil)

  // Each change puts one word outside what the writer writes.
  let cases: [(position: Int, value: Int32)] = [
    (0, Int32(bitPattern: Float(0.5).bitPattern)),
    (1, 10), (1, -1), (2, 9), (2, 60), (3, 72),
    (4, 4), (4, -1),
    (5, 9), (6, 60), (7, 10),
  ]
  for (position, value) in cases {
    var changed = record
    changed[position] = value
    let found = changed.withUnsafeBufferPointer {
      encoder.firstInvalidWord(in: $0.baseAddress!)
    }
    #expect(found == position, "word \(position) = \(value)")
  }
}
