// The model file format: writing and reading every model kind, with a CRC-32 over the file.
// Bytes in, bytes out: storing the file (registry row, disk) is the caller's business.
//
// Layout, little-endian throughout:
//   magic      8 bytes  "ADPCTR\r\n"
//   version    UInt32   3 (versions 1 and 2 are still read: version 1 lacks `trained`, and
//                       both lack `activation`, so their MLP is ReLU)
//   length     UInt64   total file length in bytes, checksum included
//   kind       string   ModelKind raw value
//   spec       categorical and numeric fields (count, then name, role, buckets each),
//              sequence fields (count, then name, shared field each),
//              maxSequenceLength, embeddingDimension
//   hyper      attentionHidden, mlpHidden (count, then UInt32 widths), negativeSampleRate Float
//   weights    embeddings, dense (count UInt64, then IEEE 754 Float32 values)
//   trained    rows covered UInt64 (0: no record, every row is used as stored), then
//              ceil(rows / 64) UInt64 words, bit r % 64 of word r / 64 set when training
//              updated embedding row r
//   activation string   MLPActivation raw value ("relu" or "dice"). A "dice" model follows it
//              with the moving means and variances (floats, one per hidden unit of the final
//              MLP, layer after layer) and the number of steps that updated them (UInt64).
//              Logistic models have no MLP and store "relu".
//   checksum   UInt32   CRC-32 (IEEE 802.3 polynomial, as in zlib) of every byte before it
// A string is a UInt32 byte count followed by UTF-8 bytes; a count or size is a UInt64.

/// Constants of the model file format.
enum ModelFile {
  static let magic: [UInt8] = Array("ADPCTR\r\n".utf8)
  static let version: UInt32 = 3
  /// The oldest format version this build reads.
  static let oldestReadableVersion: UInt32 = 1
  /// Magic, version and length: the bytes read before anything else.
  static let headerSize = 8 + 4 + 8
}

extension AttentionModel {
  public func serialized() -> [UInt8] {
    ModelFile.write(
      kind: kind, spec: spec, attentionHidden: attentionHidden, mlpHidden: mlpHidden,
      negativeSampleRate: negativeSampleRate, embeddings: embeddings, dense: dense,
      trainedRows: trainedRows, activation: mlpActivation, diceStatistics: diceStatistics)
  }
}

extension LogisticModel {
  public func serialized() -> [UInt8] {
    ModelFile.write(
      kind: kind, spec: spec, attentionHidden: [], mlpHidden: [],
      negativeSampleRate: negativeSampleRate, embeddings: embeddings, dense: dense,
      trainedRows: trainedRows, activation: .relu, diceStatistics: nil)
  }
}

/// Reads a model file written by `serialized()`.
///
/// Throws ``CTRError`` (kind `.invalidModelFile`) on a wrong magic or version, a truncated or
/// padded file, a checksum mismatch, weights whose shapes do not match the stored spec, or Dice
/// statistics that are missing, of the wrong size or not finite.
public func loadModel(_ bytes: [UInt8]) throws(CTRError) -> any ClickModel {
  var (reader, fileVersion) = try ModelFile.verifiedReader(bytes)
  let kindName = try reader.string()
  guard let kind = ModelKind(rawValue: kindName) else {
    throw ModelFile.invalid("unknown model kind '\(kindName)': the file needs a newer AdPilot")
  }
  let spec = try reader.spec()
  do {
    try spec.validate()
  } catch {
    throw ModelFile.invalid("stored feature spec is invalid: \(error.message)")
  }
  let attentionHidden = try reader.widths()
  let mlpHidden = try reader.widths()
  let negativeSampleRate = try reader.float()
  guard negativeSampleRate > 0 && negativeSampleRate <= 1 else {
    throw ModelFile.invalid("negativeSampleRate must be in (0, 1], got \(negativeSampleRate)")
  }
  let embeddings = try reader.floats()
  let dense = try reader.floats()
  let trainedRows = fileVersion >= 2 ? try reader.trainedRows() : nil
  let activation = fileVersion >= 3 ? try reader.activation() : .relu
  let diceStatistics = activation == .dice ? try reader.diceStatistics() : nil

  // The shapes are checked before a model is built, because building one allocates the tables
  // that the stored spec declares. A file with a valid checksum can declare terabytes while it
  // stores a few weights, and a failed allocation ends the process.
  let layout = EmbeddingLayout(spec: spec)
  switch kind {
  case .attention, .dnn:
    let structure = AttentionStructure(
      spec: spec, attentionHidden: attentionHidden, mlpHidden: mlpHidden,
      mlpActivation: activation)
    let builtKind: ModelKind = structure.mode == .plain ? .dnn : .attention
    guard builtKind == kind else {
      throw ModelFile.invalid(
        "stored kind '\(kind.rawValue)' does not match its spec, which builds "
          + "'\(builtKind.rawValue)'")
    }
    try ModelFile.checkShape(
      "embeddings", embeddings.count, layout.totalRows * spec.embeddingDimension)
    try ModelFile.checkShape("dense weights", dense.count, structure.denseCount)
    try ModelFile.checkTrainedRows(trainedRows, embeddingRows: layout.totalRows)
    if let diceStatistics {
      try ModelFile.checkDiceStatistics(diceStatistics, units: structure.mlp.diceUnits)
    }
    let model = AttentionModel(
      validSpec: spec, attentionHidden: attentionHidden, mlpHidden: mlpHidden,
      mlpActivation: activation)
    model.embeddings = embeddings
    model.dense = dense
    model.negativeSampleRate = negativeSampleRate
    model.trainedRows = trainedRows
    model.diceStatistics = diceStatistics
    return model
  case .logistic:
    guard activation == .relu else {
      throw ModelFile.invalid(
        "a logistic model has no MLP, but the file gives activation '\(activation.rawValue)'")
    }
    // LogisticModel's layout: a field-bucket weight and a bag-of-items weight per embedding row,
    // then one bias.
    try ModelFile.checkShape("embeddings", embeddings.count, 2 * layout.totalRows)
    try ModelFile.checkShape("dense weights", dense.count, 1)
    try ModelFile.checkTrainedRows(trainedRows, embeddingRows: embeddings.count)
    let model = LogisticModel(validSpec: spec)
    model.embeddings = embeddings
    model.dense = dense
    model.negativeSampleRate = negativeSampleRate
    model.trainedRows = trainedRows
    return model
  }
}

extension ModelFile {
  static func invalid(_ message: String) -> CTRError {
    CTRError(.invalidModelFile, "invalid model file: " + message)
  }

  static func checkShape(_ name: String, _ found: Int, _ expected: Int) throws(CTRError) {
    if found != expected {
      throw invalid("\(name) have \(found) values, the spec needs \(expected)")
    }
  }

  static func checkTrainedRows(_ trained: TrainedRows?, embeddingRows: Int) throws(CTRError) {
    if let trained, trained.count != embeddingRows {
      throw invalid(
        "the trained-row record covers \(trained.count) rows, the spec has \(embeddingRows)")
    }
  }

  static func checkDiceStatistics(_ statistics: DiceMovingStatistics, units: Int)
    throws(CTRError)
  {
    let values = statistics.values
    for (name, array) in [("means", values.mean), ("variances", values.variance)] {
      if array.count != units {
        throw invalid(
          "the Dice moving \(name) have \(array.count) values, the final MLP's hidden layers "
            + "have \(units) units")
      }
      if let bad = array.first(where: { !$0.isFinite }) {
        throw invalid("a Dice moving \(name.dropLast()) is \(bad); retrain the model")
      }
    }
    if let negative = values.variance.first(where: { $0 < 0 }) {
      throw invalid("a Dice moving variance is \(negative), below 0; retrain the model")
    }
  }

  static func write(
    kind: ModelKind, spec: FeatureSpec, attentionHidden: [Int], mlpHidden: [Int],
    negativeSampleRate: Float, embeddings: [Float], dense: [Float], trainedRows: TrainedRows?,
    activation: MLPActivation, diceStatistics: DiceMovingStatistics?
  ) -> [UInt8] {
    var writer = ByteWriter()
    writer.bytes.reserveCapacity(4 * (embeddings.count + dense.count) + 4096)
    writer.bytes += magic
    writer.uint32(version)
    writer.uint64(0)  // The total length, patched below.
    writer.string(kind.rawValue)
    writer.spec(spec)
    writer.widths(attentionHidden)
    writer.widths(mlpHidden)
    writer.float(negativeSampleRate)
    writer.floats(embeddings)
    writer.floats(dense)
    writer.uint64(UInt64(trainedRows?.count ?? 0))
    for word in trainedRows?.words ?? [] { writer.uint64(word) }
    writer.string(activation.rawValue)
    if activation == .dice {
      let statistics = diceStatistics ?? .initial(units: 0)
      writer.floats(statistics.values.mean)
      writer.floats(statistics.values.variance)
      writer.uint64(statistics.updates)
    }
    let length = UInt64(writer.bytes.count + 4)
    for index in 0..<8 {
      writer.bytes[12 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(index)))
    }
    writer.uint32(CRC32.checksum(writer.bytes[...]))
    return writer.bytes
  }

  /// Checks magic, version, length and checksum; returns a reader positioned after the header
  /// and the file's format version.
  static func verifiedReader(_ bytes: [UInt8]) throws(CTRError) -> (
    reader: ByteReader, version: UInt32
  ) {
    guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
      throw invalid("wrong magic bytes: this is not an AdPilot CTR model")
    }

    var reader = ByteReader(bytes: bytes, position: magic.count)
    guard bytes.count >= headerSize + 4 else {
      throw invalid("truncated: \(bytes.count) bytes is shorter than the header")
    }
    let fileVersion = try reader.uint32()
    guard (oldestReadableVersion...version).contains(fileVersion) else {
      throw invalid(
        "format version \(fileVersion) is not supported (this build reads "
          + "\(oldestReadableVersion) to \(version))")
    }

    let length = try reader.uint64()
    guard length == UInt64(bytes.count) else {
      let problem = length > UInt64(bytes.count) ? "truncated" : "has extra bytes"
      throw invalid("\(problem): the header gives \(length) bytes, the file has \(bytes.count)")
    }

    let body = bytes[0..<(bytes.count - 4)]
    var stored: UInt32 = 0
    for index in 0..<4 {
      stored |= UInt32(bytes[bytes.count - 4 + index]) << (8 * UInt32(index))
    }
    let computed = CRC32.checksum(body)
    guard stored == computed else {
      throw invalid(
        "checksum mismatch (stored \(hex(stored)), computed \(hex(computed))): "
          + "the file is corrupt, load it again from the registry")
    }
    reader.end = bytes.count - 4
    return (reader, fileVersion)
  }

  static func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
  }
}

/// CRC-32 with the reflected IEEE 802.3 polynomial 0xEDB88320, as in zlib and PNG.
enum CRC32 {
  static let table: [UInt32] = (0..<256).map { index in
    var value = UInt32(index)
    for _ in 0..<8 {
      value = value & 1 == 1 ? (value >> 1) ^ 0xEDB8_8320 : value >> 1
    }
    return value
  }

  static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    table.withUnsafeBufferPointer { table in
      for byte in bytes {
        crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
      }
    }
    return crc ^ 0xFFFF_FFFF
  }
}

/// Little-endian encoding of the model file's fields.
struct ByteWriter {
  var bytes: [UInt8] = []

  mutating func uint32(_ value: UInt32) {
    for index in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(index)))) }
  }

  mutating func uint64(_ value: UInt64) {
    for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
  }

  mutating func float(_ value: Float) { uint32(value.bitPattern) }

  mutating func string(_ value: String) {
    let utf8 = Array(value.utf8)
    uint32(UInt32(utf8.count))
    bytes += utf8
  }

  mutating func widths(_ values: [Int]) {
    uint64(UInt64(values.count))
    for value in values { uint32(UInt32(value)) }
  }

  mutating func floats(_ values: [Float]) {
    uint64(UInt64(values.count))
    bytes.reserveCapacity(bytes.count + 4 * values.count)
    for value in values { float(value) }
  }

  mutating func spec(_ spec: FeatureSpec) {
    uint64(UInt64(spec.categorical.count))
    for field in spec.categorical {
      string(field.name)
      string(field.role.rawValue)
      uint64(UInt64(field.buckets))
    }
    uint64(UInt64(spec.numeric.count))
    for field in spec.numeric {
      string(field.name)
      string(field.role.rawValue)
      uint64(UInt64(field.buckets))
    }
    uint64(UInt64(spec.sequence.count))
    for field in spec.sequence {
      string(field.name)
      string(field.sharesEmbeddingWith)
    }
    uint64(UInt64(spec.maxSequenceLength))
    uint64(UInt64(spec.embeddingDimension))
  }
}

/// Little-endian decoding of the model file's fields, with bounds checks on every read.
struct ByteReader {
  let bytes: [UInt8]
  var position: Int
  var end: Int

  init(bytes: [UInt8], position: Int) {
    self.bytes = bytes
    self.position = position
    end = bytes.count
  }

  private mutating func take(_ count: Int) throws(CTRError) -> Range<Int> {
    guard count >= 0, count <= end - position else {
      throw ModelFile.invalid(
        "truncated: needs \(count) bytes at offset \(position), \(end - position) left")
    }
    defer { position += count }
    return position..<(position + count)
  }

  mutating func uint32() throws(CTRError) -> UInt32 {
    var value: UInt32 = 0
    for (shift, index) in try take(4).enumerated() {
      value |= UInt32(bytes[index]) << (8 * UInt32(shift))
    }
    return value
  }

  mutating func uint64() throws(CTRError) -> UInt64 {
    var value: UInt64 = 0
    for (shift, index) in try take(8).enumerated() {
      value |= UInt64(bytes[index]) << (8 * UInt64(shift))
    }
    return value
  }

  /// Reads a UInt64 count or size, rejecting values beyond `limit`.
  mutating func count(limit: Int = Int(Int32.max)) throws(CTRError) -> Int {
    let value = try uint64()
    guard value <= UInt64(limit) else {
      throw ModelFile.invalid("a count of \(value) at offset \(position - 8) exceeds \(limit)")
    }
    return Int(value)
  }

  mutating func float() throws(CTRError) -> Float { Float(bitPattern: try uint32()) }

  mutating func string() throws(CTRError) -> String {
    let length = Int(try uint32())
    let range = try take(length)
    return String(decoding: bytes[range], as: UTF8.self)
  }

  mutating func widths() throws(CTRError) -> [Int] {
    let count = try count(limit: 64)
    var values: [Int] = []
    for _ in 0..<count {
      let width = Int(try uint32())
      guard width >= 1 && width <= 1 << 20 else {
        throw ModelFile.invalid("a layer width of \(width) is out of range")
      }
      values.append(width)
    }
    return values
  }

  mutating func floats() throws(CTRError) -> [Float] {
    let count = try count(limit: (end - position) / 4)
    let range = try take(4 * count)
    var values = [Float](repeating: 0, count: count)
    var index = range.lowerBound
    for slot in 0..<count {
      let bits =
        UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16
        | UInt32(bytes[index + 3]) << 24
      values[slot] = Float(bitPattern: bits)
      index += 4
    }
    return values
  }

  /// Reads the trained-row record: nil when it covers no rows.
  mutating func trainedRows() throws(CTRError) -> TrainedRows? {
    let rows = try count()
    guard rows > 0 else { return nil }
    let wordCount = (rows + 63) / 64
    guard wordCount <= (end - position) / 8 else {
      throw ModelFile.invalid(
        "truncated: the trained-row record needs \(wordCount) words at offset \(position)")
    }
    var words: [UInt64] = []
    words.reserveCapacity(wordCount)
    for _ in 0..<wordCount { words.append(try uint64()) }
    return TrainedRows(count: rows, words: words)
  }

  mutating func activation() throws(CTRError) -> MLPActivation {
    let name = try string()
    guard let activation = MLPActivation(rawValue: name) else {
      throw ModelFile.invalid(
        "unknown MLP activation '\(name)': expected 'relu' or 'dice', or a newer AdPilot")
    }
    return activation
  }

  /// Reads the moving Dice statistics that follow a "dice" activation.
  mutating func diceStatistics() throws(CTRError) -> DiceMovingStatistics {
    do {
      let mean = try floats()
      let variance = try floats()
      let updates = try uint64()
      return DiceMovingStatistics(
        values: DiceStatistics(mean: mean, variance: variance), updates: updates)
    } catch {
      let prefix = "invalid model file: "
      let detail =
        error.message.hasPrefix(prefix)
        ? String(error.message.dropFirst(prefix.count)) : error.message
      throw ModelFile.invalid(
        "the activation is 'dice' but its moving statistics are missing or cut short (\(detail))")
    }
  }

  mutating func role() throws(CTRError) -> FieldRole {
    let name = try string()
    guard let role = FieldRole(rawValue: name) else {
      throw ModelFile.invalid("unknown field role '\(name)'")
    }
    return role
  }

  mutating func spec() throws(CTRError) -> FeatureSpec {
    var categorical: [CategoricalField] = []
    for _ in 0..<(try count(limit: 1 << 16)) {
      categorical.append(
        CategoricalField(name: try string(), role: try role(), buckets: try count()))
    }
    var numeric: [NumericField] = []
    for _ in 0..<(try count(limit: 1 << 16)) {
      numeric.append(NumericField(name: try string(), role: try role(), buckets: try count()))
    }
    var sequence: [SequenceField] = []
    for _ in 0..<(try count(limit: 1 << 16)) {
      sequence.append(SequenceField(name: try string(), sharesEmbeddingWith: try string()))
    }
    return FeatureSpec(
      categorical: categorical, numeric: numeric, sequence: sequence,
      maxSequenceLength: try count(), embeddingDimension: try count())
  }
}
