// DIN's activation unit: an MLP over [k, q, k - q, k * q] giving one weight per key, with the
// first layer factored so that the query's share is computed once per row, not once per key.
// Weights stay in the plain `4Q -> H` layout, so the factoring never shows in the model file.

/// The activation unit of the attention model over a flat parameter array.
///
/// With the first layer's weights split by input block as `W = [Wk; Wq; Wd; Wp]` (each `Q x H`),
/// `[k, q, k - q, k * q] W + b = [k, k * q] [Wk + Wd; Wp] + (q (Wq - Wd) + b)`. The bracketed
/// query term is the same for every key of a row, so each key pays for `2Q` inputs, not `4Q`.
struct ActivationUnit: Sendable, Equatable {
  /// The first layer, `4Q -> H` (or `4Q -> 1` without hidden layers).
  var first: DenseLayer
  /// The layers after the first (`H -> ... -> 1`); empty without hidden layers.
  var rest: MLP?
  /// The query and key width Q.
  var queryWidth: Int

  init(queryWidth: Int, hidden: [Int], offset: inout Int) {
    self.queryWidth = queryWidth
    let full = MLP(inputs: 4 * queryWidth, hidden: hidden, outputs: 1, offset: &offset)
    first = full.layers[0]
    rest = full.layers.count > 1 ? MLP(layers: Array(full.layers.dropFirst())) : nil
  }

  var layers: [DenseLayer] { [first] + (rest?.layers ?? []) }

  /// Activations of one pass over `keys` keys.
  struct Activations {
    /// P [keys x 2Q] = [k, k * q].
    var pairInput: [Float] = []
    /// The first layer's output [keys x H], after ReLU when more layers follow.
    var firstOutput: [Float] = []
    /// Outputs of the remaining layers; the last is the key weights [keys x 1].
    var restActivations: [[Float]] = []

    var weights: [Float] { restActivations.last ?? firstOutput }
  }

  /// Returns the first layer's weights regrouped as `[Wk + Wd; Wp]` (2Q x H) and `Wq - Wd`
  /// (Q x H).
  private func factoredWeights(_ parameters: [Float]) -> (key: [Float], query: [Float]) {
    let q = queryWidth
    let h = first.outputs
    var key = [Float](repeating: 0, count: 2 * q * h)
    var query = [Float](repeating: 0, count: q * h)
    let w = first.weightOffset
    for i in 0..<q {
      for j in 0..<h {
        let wk = parameters[w + i * h + j]
        let wq = parameters[w + (q + i) * h + j]
        let wd = parameters[w + (2 * q + i) * h + j]
        let wp = parameters[w + (3 * q + i) * h + j]
        key[i * h + j] = wk + wd
        key[(q + i) * h + j] = wp
        query[i * h + j] = wq - wd
      }
    }
    return (key, query)
  }

  // Forward. K [keys x Q], q [rows x Q], keys of row b in keyStart[b]..<keyStart[b + 1]
  // -> weights [keys x 1].
  // R = q (Wq - Wd) + b [rows x H]; first_j = [k_j, k_j * q_b] [Wk + Wd; Wp] + R_b; then the rest.
  func forward(
    _ parameters: [Float], keys: [Float], queries: [Float], keyStart: [Int], rows: Int
  ) -> Activations {
    let q = queryWidth
    let h = first.outputs
    let keyCount = keyStart[rows]
    let (keyWeights, queryWeights) = factoredWeights(parameters)
    var rowTerm = [Float](repeating: 0, count: rows * h)
    var result = Activations()
    // The loop below writes every element of both buffers.
    result.pairInput = Kernels.uninitializedBuffer(count: keyCount * 2 * q)
    result.firstOutput = Kernels.uninitializedBuffer(count: keyCount * h)
    parameters.withUnsafeBufferPointer { parameters in
      queries.withUnsafeBufferPointer { queries in
        keys.withUnsafeBufferPointer { keys in
          guard let p = parameters.baseAddress, let queries = queries.baseAddress,
            let keys = keys.baseAddress
          else { return }
          rowTerm.withUnsafeMutableBufferPointer { rowTerm in
            guard let rowTerm = rowTerm.baseAddress else { return }
            for b in 0..<rows {
              (rowTerm + b * h).update(from: p + first.biasOffset, count: h)
            }
            queryWeights.withUnsafeBufferPointer { w in
              guard let w = w.baseAddress else { return }
              Kernels.multiplyAccumulate(queries, w, rowTerm, m: rows, k: q, n: h)
            }
          }
          result.pairInput.withUnsafeMutableBufferPointer { pair in
            result.firstOutput.withUnsafeMutableBufferPointer { output in
              rowTerm.withUnsafeBufferPointer { rowTerm in
                keyWeights.withUnsafeBufferPointer { w in
                  guard let pair = pair.baseAddress, let output = output.baseAddress,
                    let rowTerm = rowTerm.baseAddress, let w = w.baseAddress
                  else { return }
                  for b in 0..<rows {
                    for key in keyStart[b]..<keyStart[b + 1] {
                      for i in 0..<q {
                        let kv = keys[key * q + i]
                        pair[key * 2 * q + i] = kv
                        pair[key * 2 * q + q + i] = kv * queries[b * q + i]
                      }
                      (output + key * h).update(from: rowTerm + b * h, count: h)
                    }
                  }
                  Kernels.multiplyAccumulate(pair, w, output, m: keyCount, k: 2 * q, n: h)
                  if rest != nil {
                    for index in 0..<(keyCount * h) {
                      output[index] = output[index] > 0 ? output[index] : 0
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    if let rest {
      result.restActivations = rest.forward(parameters, input: result.firstOutput, rows: keyCount)
    }
    return result
  }

  // Backward. dweights [keys x 1] -> dK [keys x Q] and dq [rows x Q] (both added to), weight
  // gradients added to `gradients` in the plain `4Q -> H` layout:
  // dWk = dA, dWd = dA - dB, dWq = dB, dWp = dC, where dA, dC are the two halves of
  // P^T dfirst and dB = q^T dR.
  func backward(
    _ parameters: [Float], gradients: inout [Float], activations: Activations,
    keys: [Float], queries: [Float], keyStart: [Int], rows: Int, weightGradient: [Float],
    keyGradient: inout [Float], queryGradient: inout [Float]
  ) {
    let q = queryWidth
    let h = first.outputs
    let keyCount = keyStart[rows]
    var firstGradient = weightGradient
    if let rest {
      firstGradient = rest.backward(
        parameters, gradients: &gradients, input: activations.firstOutput,
        activations: activations.restActivations, outputGradient: weightGradient,
        rows: keyCount, needInputGradient: true)
      // Through the first layer's ReLU.
      activations.firstOutput.withUnsafeBufferPointer { output in
        firstGradient.withUnsafeMutableBufferPointer { gradient in
          for index in 0..<gradient.count {
            gradient[index] = output[index] > 0 ? gradient[index] : 0
          }
        }
      }
    }

    // dR_b = sum over the row's keys of dfirst_j; db = sum over rows of dR_b.
    var rowGradient = [Float](repeating: 0, count: rows * h)
    for b in 0..<rows {
      for key in keyStart[b]..<keyStart[b + 1] {
        for j in 0..<h {
          rowGradient[b * h + j] += firstGradient[key * h + j]
        }
      }
    }

    let (keyWeights, queryWeights) = factoredWeights(parameters)
    var pairWeightGradient = [Float](repeating: 0, count: 2 * q * h)
    var queryWeightGradient = [Float](repeating: 0, count: q * h)
    var pairGradient = [Float](repeating: 0, count: keyCount * 2 * q)
    var queryTermGradient = [Float](repeating: 0, count: rows * q)
    pairWeightGradient.withUnsafeMutableBufferPointer { dW in
      queryWeightGradient.withUnsafeMutableBufferPointer { dWq in
        pairGradient.withUnsafeMutableBufferPointer { dP in
          queryTermGradient.withUnsafeMutableBufferPointer { dq in
            activations.pairInput.withUnsafeBufferPointer { pair in
              firstGradient.withUnsafeBufferPointer { dF in
                rowGradient.withUnsafeBufferPointer { dR in
                  queries.withUnsafeBufferPointer { queries in
                    keyWeights.withUnsafeBufferPointer { wK in
                      queryWeights.withUnsafeBufferPointer { wQ in
                        guard let dW = dW.baseAddress, let dWq = dWq.baseAddress,
                          let pair = pair.baseAddress, let dF = dF.baseAddress,
                          let dR = dR.baseAddress, let queries = queries.baseAddress,
                          let wK = wK.baseAddress, let wQ = wQ.baseAddress
                        else { return }
                        // dW2 [2Q x H] = P^T dfirst, dWq' [Q x H] = q^T dR.
                        Self.addTransposedProduct(pair, dF, dW, rows: keyCount, m: 2 * q, n: h)
                        Self.addTransposedProduct(queries, dR, dWq, rows: rows, m: q, n: h)
                        // dP [keys x 2Q] = dfirst W2^T, dq' [rows x Q] = dR Wq'^T.
                        if let dP = dP.baseAddress {
                          Self.addProductTransposed(dF, wK, dP, rows: keyCount, k: h, n: 2 * q)
                        }
                        if let dq = dq.baseAddress {
                          Self.addProductTransposed(dR, wQ, dq, rows: rows, k: h, n: q)
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }

    // Back to the plain layout: W = [Wk; Wq; Wd; Wp] and the bias.
    let w = first.weightOffset
    for i in 0..<q {
      for j in 0..<h {
        let dA = pairWeightGradient[i * h + j]
        let dB = queryWeightGradient[i * h + j]
        gradients[w + i * h + j] += dA
        gradients[w + (q + i) * h + j] += dB
        gradients[w + (2 * q + i) * h + j] += dA - dB
        gradients[w + (3 * q + i) * h + j] += pairWeightGradient[(q + i) * h + j]
      }
    }
    for b in 0..<rows {
      for j in 0..<h {
        gradients[first.biasOffset + j] += rowGradient[b * h + j]
      }
    }

    // P = [k, k * q]: dk += dP0 + dP1 * q, dq += dP1 * k; plus the row term's dq'.
    for b in 0..<rows {
      for key in keyStart[b]..<keyStart[b + 1] {
        for i in 0..<q {
          let dP0 = pairGradient[key * 2 * q + i]
          let dP1 = pairGradient[key * 2 * q + q + i]
          keyGradient[key * q + i] += dP0 + dP1 * queries[b * q + i]
          queryGradient[b * q + i] += dP1 * keys[key * q + i]
        }
      }
      for i in 0..<q {
        queryGradient[b * q + i] += queryTermGradient[b * q + i]
      }
    }
  }

  /// Adds `x^T dy` to `c`: `x [rows x m]`, `dy [rows x n]`, `c [m x n]`.
  private static func addTransposedProduct(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    rows: Int, m: Int, n: Int
  ) {
    Kernels.multiplyAccumulateTransposed(x, dy, c, rows: rows, m: m, n: n)
  }

  /// Adds `dy w^T` to `c`: `dy [rows x k]`, `w [n x k]`, `c [rows x n]`.
  private static func addProductTransposed(
    _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    rows: Int, k: Int, n: Int
  ) {
    var transposed = [Float](repeating: 0, count: k * n)
    transposed.withUnsafeMutableBufferPointer { t in
      guard let t = t.baseAddress else { return }
      Kernels.transpose(w, t, rows: n, columns: k)
      Kernels.multiplyAccumulate(dy, t, c, m: rows, k: k, n: n)
    }
  }
}
