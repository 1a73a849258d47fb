// Adam (Kingma and Ba, 2015) for dense weights, and its lazy row-wise form for embeddings.
// The lazy form updates only the rows a step touched. It applies L2 only to those rows, but
// weights it by the steps since each row's last update, so that a rare row is held to the same
// L2 as a frequent one instead of escaping it between touches.

import Dispatch

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
///
/// L2 catches up on the steps a row missed. A row updated at step `t` whose previous update was
/// at step `s` (0 for its first) adds `l2 * (t - s) * w` to its gradient, as many L2 terms as
/// dense L2 would have applied since the last one. Counted once per touch instead, L2 would reach
/// a value seen in every batch once per step, but a value seen once an epoch only once per epoch.
/// A larger coefficient would then shrink the frequent, well-estimated values and leave the rare
/// ones free to fit their few rows.
struct LazyAdam {
  var learningRate: Float
  var l2: Float
  let beta1: Float = 0.9
  let beta2: Float = 0.999
  let epsilon: Float = 1e-8
  private(set) var step = 0
  private var m: [Float]
  private var v: [Float]
  /// The step of each table row's last update, 0 before its first.
  private var lastStep: [Int32]

  /// Creates the state of a table of `count` weights in rows of `width`.
  init(count: Int, width: Int, learningRate: Float, l2: Float) {
    precondition(width > 0 && count % width == 0, "table of \(count) weights in rows of \(width)")
    self.learningRate = learningRate
    self.l2 = l2
    m = [Float](repeating: 0, count: count)
    v = [Float](repeating: 0, count: count)
    lastStep = [Int32](repeating: 0, count: count / width)
  }

  /// Applies one step to the touched rows of `table` (row width `gradient.width`).
  ///
  /// With `threads > 1` the touched rows are split into contiguous shares updated at the same
  /// time. Each row's update reads and writes only that row, so the result does not depend on
  /// `threads`, bit for bit.
  mutating func update(_ table: inout [Float], gradient: SparseGradient, threads: Int = 1) {
    precondition(gradient.tableRows == lastStep.count, "gradient of another table")
    step += 1
    let correction1 = 1 - Adam.power(beta1, step)
    let correction2 = 1 - Adam.power(beta2, step)
    let constants = RowUpdate(
      rate: learningRate * correction2.squareRoot() / correction1, beta1: beta1, beta2: beta2,
      epsilon: epsilon, l2: l2, width: gradient.width, step: Int32(clamping: step))
    let rowCount = gradient.rows.count
    // NOTE: the 4096-row cut-off below which one thread does the update is an estimate of where
    // starting a worker stops paying for itself, not a measured threshold.
    let parts = rowCount < 4096 ? 1 : max(1, threads)
    m.withUnsafeMutableBufferPointer { m in
      v.withUnsafeMutableBufferPointer { v in
        lastStep.withUnsafeMutableBufferPointer { lastStep in
          table.withUnsafeMutableBufferPointer { w in
            gradient.values.withUnsafeBufferPointer { g in
              gradient.rows.withUnsafeBufferPointer { rows in
                guard let m = m.baseAddress, let v = v.baseAddress, let w = w.baseAddress,
                  let lastStep = lastStep.baseAddress, let g = g.baseAddress,
                  let rows = rows.baseAddress
                else { return }
                let state = RowState(m: m, v: v, w: w, lastStep: lastStep, g: g, rows: rows)
                guard parts > 1 else {
                  constants.apply(state, slots: 0..<rowCount)
                  return
                }
                // Shares touch disjoint rows: no two workers write the same element.
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                  let slots = (rowCount * part / parts)..<(rowCount * (part + 1) / parts)
                  FloatMode.flushingSubnormals { constants.apply(state, slots: slots) }
                }
              }
            }
          }
        }
      }
    }
  }
}

/// Pointers to the lazy Adam state, the table and one step's sparse gradient.
private struct RowState: @unchecked Sendable {
  let m: UnsafeMutablePointer<Float>
  let v: UnsafeMutablePointer<Float>
  let w: UnsafeMutablePointer<Float>
  let lastStep: UnsafeMutablePointer<Int32>
  let g: UnsafePointer<Float>
  let rows: UnsafePointer<Int32>
}

/// The constants of one lazy Adam step.
private struct RowUpdate: Sendable {
  let rate: Float
  let beta1: Float
  let beta2: Float
  let epsilon: Float
  let l2: Float
  let width: Int
  /// The step being applied, counted from 1.
  let step: Int32

  /// Updates the table rows of gradient slots `slots`.
  ///
  /// Eight elements go at a time with the same element-wise operations as the scalar tail, so
  /// the vector width never changes a value. Fewer instructions per row also let the core
  /// overlap more of the cache misses that random rows cause.
  func apply(_ state: RowState, slots: Range<Int>) {
    typealias Lanes = SIMD8<Float>
    let (m, v, w, g) = (state.m, state.v, state.w, state.g)
    for slot in slots {
      let row = Int(state.rows[slot])
      let base = row * width
      // The L2 terms of this step and of every step since the row's last update.
      let l2 = self.l2 * Float(step - state.lastStep[row])
      state.lastStep[row] = step
      var j = 0
      while j + 8 <= width {
        let i = base + j
        let weight = UnsafeRawPointer(w + i).loadUnaligned(as: Lanes.self)
        let value =
          UnsafeRawPointer(g + slot * width + j).loadUnaligned(as: Lanes.self) + l2 * weight
        let first =
          beta1 * UnsafeRawPointer(m + i).loadUnaligned(as: Lanes.self) + (1 - beta1) * value
        let second =
          beta2 * UnsafeRawPointer(v + i).loadUnaligned(as: Lanes.self) + (1 - beta2) * value
          * value
        let updated = weight - rate * first / (second.squareRoot() + epsilon)
        UnsafeMutableRawPointer(m + i).storeBytes(of: first, as: Lanes.self)
        UnsafeMutableRawPointer(v + i).storeBytes(of: second, as: Lanes.self)
        UnsafeMutableRawPointer(w + i).storeBytes(of: updated, as: Lanes.self)
        j += 8
      }
      while j < width {
        let i = base + j
        let value = g[slot * width + j] + l2 * w[i]
        m[i] = beta1 * m[i] + (1 - beta1) * value
        v[i] = beta2 * v[i] + (1 - beta2) * value * value
        w[i] -= rate * m[i] / (v[i].squareRoot() + epsilon)
        j += 1
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
