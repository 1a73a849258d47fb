// Batch prediction spread over several threads, for callers that score large batches.
// Rows are independent, so the scores equal one-thread `predict` bit for bit; it never trains.

import Dispatch

extension ClickModel {
  /// Returns pCTR per row like ``predict(_:)``, with the rows split into `threads` contiguous
  /// shares scored at the same time. The scores equal `predict(batch)` bit for bit for every
  /// thread count, because each row's score does not depend on the batch it is in.
  public func predict(_ batch: EncodedBatch, threads: Int) -> [Float] {
    let parts = min(max(threads, 1), batch.count)
    guard parts > 1 else { return predict(batch) }
    let bounds = (0...parts).map { batch.count * $0 / parts }
    var shares = [[Float]](repeating: [], count: parts)
    shares.withUnsafeMutableBufferPointer { shares in
      guard let base = shares.baseAddress else { return }
      let slots = PredictionSlots(base: base)
      // Each worker reads the model and writes only its own slot.
      DispatchQueue.concurrentPerform(iterations: parts) { part in
        slots.base[part] = predict(batch.slice(bounds[part]..<bounds[part + 1]))
      }
    }
    return Array(shares.joined())
  }
}

/// A buffer whose elements are each written by exactly one concurrent worker.
private struct PredictionSlots: @unchecked Sendable {
  let base: UnsafeMutablePointer<[Float]>
}
