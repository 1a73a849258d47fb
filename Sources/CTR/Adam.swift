// Adam (Kingma and Ba, 2015) for dense weights, and its lazy row-wise form for embeddings.
// The lazy form updates only the rows a step touched and applies L2 only to those rows.

/// Adam state and update for a flat dense parameter array.
struct DenseAdam {
  var learningRate: Float
  var l2: Float
  let beta1: Float = 0.9
  let beta2: Float = 0.999
  let epsilon: Float = 1e-8
  private(set) var step = 0
  private var m: [Float]
  private var v: [Float]

  init(count: Int, learningRate: Float, l2: Float) {
    self.learningRate = learningRate
    self.l2 = l2
    m = [Float](repeating: 0, count: count)
    v = [Float](repeating: 0, count: count)
  }

  /// Applies one step: g += l2 * w, then the bias-corrected Adam update.
  mutating func update(_ parameters: inout [Float], gradients: [Float]) {
    step += 1
    let correction1 = 1 - Adam.power(beta1, step)
    let correction2 = 1 - Adam.power(beta2, step)
    let rate = learningRate * correction2.squareRoot() / correction1
    let (beta1, beta2, epsilon, l2) = (self.beta1, self.beta2, self.epsilon, self.l2)
    m.withUnsafeMutableBufferPointer { m in
      v.withUnsafeMutableBufferPointer { v in
        parameters.withUnsafeMutableBufferPointer { w in
          gradients.withUnsafeBufferPointer { g in
            for i in 0..<w.count {
              let gradient = g[i] + l2 * w[i]
              m[i] = beta1 * m[i] + (1 - beta1) * gradient
              v[i] = beta2 * v[i] + (1 - beta2) * gradient * gradient
              w[i] -= rate * m[i] / (v[i].squareRoot() + epsilon)
            }
          }
        }
      }
    }
  }
}

/// Row-wise lazy Adam for an embedding table: moments of untouched rows stay frozen, and bias
/// correction uses the global step count (as in TensorFlow's LazyAdam).
struct LazyAdam {
  var learningRate: Float
  var l2: Float
  let beta1: Float = 0.9
  let beta2: Float = 0.999
  let epsilon: Float = 1e-8
  private(set) var step = 0
  private var m: [Float]
  private var v: [Float]

  init(count: Int, learningRate: Float, l2: Float) {
    self.learningRate = learningRate
    self.l2 = l2
    m = [Float](repeating: 0, count: count)
    v = [Float](repeating: 0, count: count)
  }

  /// Applies one step to the touched rows of `table` (row width `gradient.width`).
  mutating func update(_ table: inout [Float], gradient: SparseGradient) {
    step += 1
    let correction1 = 1 - Adam.power(beta1, step)
    let correction2 = 1 - Adam.power(beta2, step)
    let rate = learningRate * correction2.squareRoot() / correction1
    let (beta1, beta2, epsilon, l2) = (self.beta1, self.beta2, self.epsilon, self.l2)
    let width = gradient.width
    m.withUnsafeMutableBufferPointer { m in
      v.withUnsafeMutableBufferPointer { v in
        table.withUnsafeMutableBufferPointer { w in
          gradient.values.withUnsafeBufferPointer { g in
            for (slot, row) in gradient.rows.enumerated() {
              let base = Int(row) * width
              for j in 0..<width {
                let i = base + j
                let value = g[slot * width + j] + l2 * w[i]
                m[i] = beta1 * m[i] + (1 - beta1) * value
                v[i] = beta2 * v[i] + (1 - beta2) * value * value
                w[i] -= rate * m[i] / (v[i].squareRoot() + epsilon)
              }
            }
          }
        }
      }
    }
  }
}

enum Adam {
  /// Returns base^exponent by repeated squaring (the standard library has no pow).
  static func power(_ base: Float, _ exponent: Int) -> Float {
    var result: Float = 1
    var factor = base
    var remaining = exponent
    while remaining > 0 {
      if remaining & 1 == 1 { result *= factor }
      factor *= factor
      remaining >>= 1
    }
    return result
  }
}
