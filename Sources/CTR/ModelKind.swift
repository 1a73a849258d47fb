// The common face of every CTR model: kind, spec, batch prediction and the model file bytes.
// Training goes through Trainer; nothing here mutates a model.

/// The architecture of a saved model.
public enum ModelKind: String, Codable, Sendable {
  /// DIN-style target attention over behaviour items or profile fields, then an MLP.
  case attention
  /// An MLP over the field embeddings, for specs that declare no user and no ad fields.
  case dnn
  /// Hashed logistic regression, the baseline.
  case logistic
}

/// A trained or trainable click model.
///
/// Models are reference types mutated only by a ``Trainer``. Predicting from several threads is
/// safe while no trainer is stepping the same model.
public protocol ClickModel: AnyObject, Sendable {
  /// The architecture, decided from the spec's roles for attention models.
  var kind: ModelKind { get }
  /// The spec the model was built for; encode its input with `FeatureEncoder(spec: spec)`.
  var spec: FeatureSpec { get }
  /// Returns pCTR per row. Each row's value does not depend on the batch it came in, bit for bit.
  func predict(_ batch: EncodedBatch) -> [Float]
  /// Returns the model file: magic, version, spec, hyper-parameters, weights, CRC-32.
  func serialized() -> [UInt8]
  /// True when every weight is a finite number; a model failing this must not be promoted.
  var weightsAreFinite: Bool { get }
  /// Adds `delta` to the output bias, which moves every logit by `delta`.
  func shiftOutputBias(by delta: Float)
}
