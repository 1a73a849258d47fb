// The C interface of CTRScoring called the way the PostgreSQL extension calls it: model bytes
// in, C arrays in, scores or an error status and message out, and no trap on bad input.

import CTR
import CTRScoring
import Testing

@Suite struct ScoringInterfaceTests {
  static let spec = FeatureSpec(
    categorical: [
      CategoricalField(name: "user_id", role: .user, buckets: 20),
      CategoricalField(name: "ad_category", role: .ad, buckets: 12),
    ],
    numeric: [NumericField(name: "price", role: .ad, buckets: 8)],
    sequence: [SequenceField(name: "hist_category", sharesEmbeddingWith: "ad_category")],
    maxSequenceLength: 3,
    embeddingDimension: 4)

  static func modelBytes() throws -> [UInt8] {
    var config = TrainingConfig()
    config.attentionHidden = [6]
    config.mlpHidden = [5]
    return try AttentionModel(spec: spec, config: config, seed: 3).serialized()
  }

  /// Returns the NUL-terminated text in `buffer`.
  static func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Loads `bytes` through the C interface, returning the handle or the status and message.
  static func load(_ bytes: [UInt8]) -> (UnsafeMutableRawPointer?, Int32, String) {
    var handle: UnsafeMutableRawPointer?
    var message = [CChar](repeating: 0, count: 256)
    let status = bytes.withUnsafeBufferPointer { buffer in
      adpilotModelLoad(buffer.baseAddress, Int64(buffer.count), &handle, &message, 256)
    }
    let text = Self.text(message)
    return (handle, status, text)
  }

  /// Scores rows through the C interface the way adpilot.c lays them out.
  static func score(
    _ handle: UnsafeMutableRawPointer?, cat: [String?], num: [Double?], seq: [[String?]]
  ) -> (Int32, [Float], String) {
    let rowCount = seq.count
    let strings = (cat + seq.flatMap { $0 }).map { value in value.map { Array($0.utf8CString) } }
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { bytes in
      bytes.map { bytes in
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        pointer.initialize(from: bytes, count: bytes.count)
        return pointer
      }
    }
    defer { for pointer in pointers { pointer?.deallocate() } }
    let lengths = strings.map { Int32(($0?.count ?? 1) - 1) }
    var offsets: [Int64] = [0]
    for items in seq { offsets.append(offsets[offsets.count - 1] + Int64(items.count)) }
    let catPointers = pointers.prefix(cat.count).map { UnsafePointer($0) }
    let seqPointers = pointers.dropFirst(cat.count).map { UnsafePointer($0) }
    var scores = [Float](repeating: -1, count: rowCount)
    var message = [CChar](repeating: 0, count: 256)
    let status = adpilotModelScore(
      handle, Int64(rowCount), catPointers, Array(lengths.prefix(cat.count)),
      num.map { $0 ?? 0 }, num.map { $0 == nil ? 1 : 0 }, seqPointers,
      Array(lengths.dropFirst(cat.count)), offsets, &scores, &message, 256)
    let text = Self.text(message)
    return (status, scores, text)
  }

  @Test func scoresEqualPredictBitForBit() throws {
    let bytes = try Self.modelBytes()
    let (handle, status, _) = Self.load(bytes)
    defer { adpilotModelFree(handle) }
    #expect(status == 0)
    let model = try loadModel(bytes)

    let cat: [String?] = ["u1", "c3", "u2", nil, "u3", "c1"]
    let num: [Double?] = [2.5, nil, 100]
    let seq: [[String?]] = [["c1", "c2"], [], [nil, "c7", "c3", "c4"]]
    let (scoreStatus, scores, message) = Self.score(handle, cat: cat, num: num, seq: seq)
    #expect(scoreStatus == 0, "\(message)")

    let encoder = FeatureEncoder(spec: model.spec)
    var batch = EncodedBatch(spec: model.spec, capacity: 3)
    for row in 0..<3 {
      encoder.append(
        cat: Array(cat[(2 * row)..<(2 * row + 2)]), num: [num[row]], seq: seq[row], label: 0,
        to: &batch)
    }
    let expected = model.predict(batch)
    #expect(scores.map(\.bitPattern) == expected.map(\.bitPattern))
  }

  /// Scores rows that share `seq` through `adpilot_model_score_shared`.
  static func scoreShared(
    _ handle: UnsafeMutableRawPointer?, rows rowCount: Int, cat: [String?], num: [Double?],
    seq: [String?], seqCount: Int64? = nil
  ) -> (Int32, [Float], String) {
    let strings = (cat + seq).map { value in value.map { Array($0.utf8) } }
    let storage = strings.map { bytes in
      bytes.map { bytes in
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, bytes.count))
        for (index, byte) in bytes.enumerated() { pointer[index] = CChar(bitPattern: byte) }
        return pointer
      }
    }
    defer { for pointer in storage { pointer?.deallocate() } }
    let pointers = storage.map { $0.map { UnsafePointer($0) } }
    let lengths = strings.map { Int32($0?.count ?? 0) }
    var scores = [Float](repeating: -1, count: rowCount)
    var message = [CChar](repeating: 0, count: 256)
    let status = adpilotModelScoreShared(
      handle, Int64(rowCount), Array(pointers.prefix(cat.count)),
      Array(lengths.prefix(cat.count)), num.map { $0 ?? 0 }, num.map { $0 == nil ? 1 : 0 },
      Array(pointers.dropFirst(cat.count)), Array(lengths.dropFirst(cat.count)),
      seqCount ?? Int64(seq.count), &scores, &message, 256)
    return (status, scores, Self.text(message))
  }

  @Test func sharedSequenceScoresEqualPerRowScoresBitForBit() throws {
    let bytes = try Self.modelBytes()
    let (handle, _, _) = Self.load(bytes)
    defer { adpilotModelFree(handle) }
    let cat: [String?] = ["u1", "c3", "u2", nil, "u1", "c1", nil, ""]
    let num: [Double?] = [2.5, nil, 100, 0]
    // A missing item in the middle is dropped as padding, and the fifth real item falls past
    // the model's three.
    let seq: [String?] = ["c1", nil, "c7", "c3", "", "c4", "c5"]
    let (status, shared, message) = Self.scoreShared(
      handle, rows: 4, cat: cat, num: num, seq: seq)
    #expect(status == 0, "\(message)")
    let (_, perRow, _) = Self.score(
      handle, cat: cat, num: num, seq: Array(repeating: seq, count: num.count))
    #expect(shared.map(\.bitPattern) == perRow.map(\.bitPattern))
    #expect(!shared.contains(-1))
  }

  @Test func sharedSequenceWithTheWrongShapeIsRejected() throws {
    let spec = FeatureSpec(
      categorical: [
        CategoricalField(name: "ad_category", role: .ad, buckets: 12),
        CategoricalField(name: "ad_brand", role: .ad, buckets: 12),
      ],
      sequence: [
        SequenceField(name: "hist_category", sharesEmbeddingWith: "ad_category"),
        SequenceField(name: "hist_brand", sharesEmbeddingWith: "ad_brand"),
      ],
      maxSequenceLength: 2, embeddingDimension: 2)
    var config = TrainingConfig()
    config.attentionHidden = [3]
    config.mlpHidden = [3]
    let bytes = try AttentionModel(spec: spec, config: config, seed: 1).serialized()
    let (handle, _, _) = Self.load(bytes)
    defer { adpilotModelFree(handle) }
    let (odd, oddScores, oddMessage) = Self.scoreShared(
      handle, rows: 1, cat: ["c", "b"], num: [], seq: ["c1", "b1", "c2"])
    #expect(odd == 2)
    #expect(oddMessage.contains("not a multiple of the 2 values per behaviour item"))
    #expect(oddScores == [-1])
    let (negative, _, negativeMessage) = Self.scoreShared(
      handle, rows: 1, cat: ["c", "b"], num: [], seq: [], seqCount: -1)
    #expect(negative == 3)
    #expect(negativeMessage.contains("-1"))
  }

  @Test func garbageBytesFailToLoad() {
    let (handle, status, message) = Self.load([1, 2, 3, 4])
    #expect(handle == nil)
    #expect(status == 1)
    #expect(message.contains("invalid model file"))
  }

  @Test func emptyBytesFailToLoad() {
    let (handle, status, _) = Self.load([])
    #expect(handle == nil)
    #expect(status == 1)
  }

  @Test func truncatedModelFailsToLoad() throws {
    let bytes = try Self.modelBytes()
    let (handle, status, message) = Self.load(Array(bytes.dropLast(9)))
    #expect(handle == nil)
    #expect(status == 1)
    #expect(message.contains("invalid model file"))
  }

  @Test func wrongCategoricalCountIsRejected() throws {
    let model = try ScoringModel(bytes: try Self.modelBytes())
    let row = ScoringRow(cat: ["u1"], num: [1], seq: [])
    #expect(throws: CTRError.self) { try model.score(rows: [row]) }
  }

  @Test func extraSequenceValuesAreRejected() throws {
    let spec = FeatureSpec(
      categorical: [CategoricalField(name: "c1", role: .context, buckets: 10)],
      embeddingDimension: 2)
    let logistic = try LogisticModel(spec: spec, config: TrainingConfig(), seed: 1)
    let model = try ScoringModel(bytes: logistic.serialized())
    let row = ScoringRow(cat: ["a"], num: [], seq: ["x"])
    #expect(throws: CTRError.self) { try model.score(rows: [row]) }
  }

  @Test func negativeRowCountIsRejected() throws {
    let (handle, _, _) = Self.load(try Self.modelBytes())
    defer { adpilotModelFree(handle) }
    var message = [CChar](repeating: 0, count: 64)
    let status = adpilotModelScore(handle, -1, nil, nil, nil, nil, nil, nil, nil, nil, &message, 64)
    #expect(status == 3)
  }

  @Test func decreasingOffsetsAreRejected() throws {
    let (handle, _, _) = Self.load(try Self.modelBytes())
    defer { adpilotModelFree(handle) }
    let missing: [UnsafePointer<CChar>?] = [nil, nil]
    var scores: [Float] = [0]
    var message = [CChar](repeating: 0, count: 128)
    let status = adpilotModelScore(
      handle, 1, missing, [0, 0], [1], [0], nil, nil, [3, 1], &scores, &message, 128)
    #expect(status == 3)
    #expect(scores == [0])
  }

  @Test func nullHandleIsRejected() {
    let (status, _, message) = Self.score(nil, cat: [], num: [], seq: [[]])
    #expect(status == 3)
    #expect(message.contains("null"))
  }

  @Test func shapeMatchesSpec() throws {
    let (handle, _, _) = Self.load(try Self.modelBytes())
    defer { adpilotModelFree(handle) }
    var shape = [Int64](repeating: -1, count: 4)
    #expect(adpilotModelGetShape(handle, &shape) == 0)
    #expect(shape == [2, 1, 1, 3])
  }

  @Test func longMessageIsCutToCapacity() {
    var handle: UnsafeMutableRawPointer?
    var message = [CChar](repeating: 7, count: 8)
    let status = adpilotModelLoad(nil, 0, &handle, &message, 8)
    #expect(status == 1)
    #expect(message[7] == 0)
    #expect(Self.text(message).utf8.count <= 7)
  }
}
