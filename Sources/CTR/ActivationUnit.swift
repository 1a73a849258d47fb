// DIN's activation unit: an MLP over [k, q, k - q, k * q] giving one weight per key, with the
// first layer folded per row so that each key pays for Q inputs, not 4Q.
// Weights stay in the plain `4Q -> H` layout, so the folding never shows in the model file.

/// The activation unit of the attention model over a flat parameter array.
///
/// With the first layer's weights split by input block as `W = [Wk; Wq; Wd; Wp]` (each `Q x H`),
/// `[k, q, k - q, k * q] W + b = k M_b + R_b`, where `M_b = (Wk + Wd) + diag(q_b) Wp` and
/// `R_b = q_b (Wq - Wd) + b`. Both depend on the row's query only, so each row builds them once
/// (`Q x H` multiply-adds each) and each key pays for `Q` inputs, not `4Q`.
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
    /// The first layer's output [keys x H], after ReLU when more layers follow.
    var firstOutput: [Float] = []
    /// Outputs of the remaining layers; the last is the key weights [keys x 1].
    var restActivations: [[Float]] = []

    var weights: [Float] { restActivations.last ?? firstOutput }
  }

  /// Returns the first layer's weights regrouped as `Wk + Wd` and `Wq - Wd` (both Q x H). `Wp`
  /// is read in place, because it is the last Q x H block of the first layer's weights.
  func foldedWeights(_ parameters: UnsafePointer<Float>) -> (key: [Float], query: [Float]) {
    let q = queryWidth
    let h = first.outputs
    var key = Kernels.uninitializedBuffer(count: q * h)
    var query = Kernels.uninitializedBuffer(count: q * h)
    let w = parameters + first.weightOffset
    for index in 0..<(q * h) {
      let wk = w[index]
      let wq = w[q * h + index]
      let wd = w[2 * q * h + index]
      key[index] = wk + wd
      query[index] = wq - wd
    }
    return (key, query)
  }

  /// Returns the address of `Wp`, the first layer's `k * q` block (Q x H).
  func productWeights(_ parameters: UnsafePointer<Float>) -> UnsafePointer<Float> {
    parameters + first.weightOffset + 3 * queryWidth * first.outputs
  }

  /// Writes `M_b [Q x H]` into `target`: `target[i, j] = key[i, j] + query[i] * wp[i, j]`,
  /// one fused multiply-add per element.
  static func foldQuery(
    key: UnsafePointer<Float>, wp: UnsafePointer<Float>, query: UnsafePointer<Float>,
    target: UnsafeMutablePointer<Float>, q: Int, h: Int
  ) {
    for i in 0..<q {
      for j in 0..<h {
        target[i * h + j] = key[i * h + j].addingProduct(query[i], wp[i * h + j])
      }
    }
  }

  /// Writes `M_b^T [H x Q]` into `target` from the transposed weights with the same fused
  /// multiply-adds as ``foldQuery(key:wp:query:target:q:h:)``, so it contains the same values.
  private static func foldQueryTransposed(
    key: UnsafePointer<Float>, wp: UnsafePointer<Float>, query: UnsafePointer<Float>,
    target: UnsafeMutablePointer<Float>, q: Int, h: Int
  ) {
    for j in 0..<h {
      for i in 0..<q {
        target[j * q + i] = key[j * q + i].addingProduct(query[i], wp[j * q + i])
      }
    }
  }

  // Forward. K [keys x Q], q [rows x Q], keys of row b in keyStart[b]..<keyStart[b + 1]
  // -> weights [keys x 1].
  // R_b = q_b (Wq - Wd) + b and M_b = (Wk + Wd) + diag(q_b) Wp; first_j = k_j M_b + R_b for
  // each key j of row b (the product first, then R_b is added); then the rest.
  func forward(
    _ parameters: [Float], keys: [Float], queries: [Float], keyStart: [Int], rows: Int
  ) -> Activations {
    let q = queryWidth
    let h = first.outputs
    let keyCount = keyStart[rows]
    var result = Activations()
    // The loop below writes every key's row of the first layer's output.
    result.firstOutput = Kernels.uninitializedBuffer(count: keyCount * h)
    var rowTerm = Kernels.uninitializedBuffer(count: rows * h)
    var rowMatrix = Kernels.uninitializedBuffer(count: q * h)
    let relu = rest != nil
    parameters.withUnsafeBufferPointer { parameters in
      guard let p = parameters.baseAddress else { return }
      let (keyWeights, queryWeights) = foldedWeights(p)
      let wp = productWeights(p)
      queries.withUnsafeBufferPointer { queries in
        keys.withUnsafeBufferPointer { keys in
          rowTerm.withUnsafeMutableBufferPointer { rowTerm in
            rowMatrix.withUnsafeMutableBufferPointer { matrix in
              result.firstOutput.withUnsafeMutableBufferPointer { output in
                keyWeights.withUnsafeBufferPointer { wk in
                  queryWeights.withUnsafeBufferPointer { wq in
                    guard let queries = queries.baseAddress, let rowTerm = rowTerm.baseAddress,
                      let matrix = matrix.baseAddress, let wk = wk.baseAddress,
                      let wq = wq.baseAddress
                    else { return }
                    for b in 0..<rows {
                      (rowTerm + b * h).update(from: p + first.biasOffset, count: h)
                    }
                    Kernels.multiplyAccumulate(queries, wq, rowTerm, m: rows, k: q, n: h)
                    guard let keys = keys.baseAddress, let output = output.baseAddress else {
                      return
                    }
                    for b in 0..<rows {
                      let start = keyStart[b]
                      let count = keyStart[b + 1] - start
                      guard count > 0 else { continue }
                      Self.foldQuery(
                        key: wk, wp: wp, query: queries + b * q, target: matrix, q: q, h: h)
                      let rowOutput = output + start * h
                      Kernels.multiply(
                        keys + start * q, matrix, rowOutput, m: count, k: q, n: h,
                        bias: rowTerm + b * h, rectify: relu)
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
  // gradients added to `gradients` in the plain `4Q -> H` layout.
  // Per row: dM_b = K_b^T dfirst_b, dK_b = dfirst_b M_b^T, dq_b[i] += sum_j dM_b[i, j] Wp[i, j];
  // over rows: dA = sum dM_b, dWp[i, :] = sum q_b[i] dM_b[i, :], dR_b = sum of the row's dfirst,
  // dB = q^T dR, dq += dR (Wq - Wd)^T. Then dWk = dA, dWd = dA - dB, dWq = dB.
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
      // The first layer's output went through a ReLU, so its gradient is masked the same way.
      firstGradient = rest.backward(
        parameters, gradients: &gradients, input: activations.firstOutput,
        activations: activations.restActivations, outputGradient: weightGradient,
        rows: keyCount, needInputGradient: true, inputIsRectified: true)
    }

    // dR_b = sum over the row's keys of dfirst_j, in key order.
    var rowGradient = [Float](repeating: 0, count: rows * h)
    firstGradient.withUnsafeBufferPointer { dF in
      rowGradient.withUnsafeMutableBufferPointer { dR in
        guard let dF = dF.baseAddress, let dR = dR.baseAddress else { return }
        for b in 0..<rows {
          let target = dR + b * h
          for key in keyStart[b]..<keyStart[b + 1] {
            let source = dF + key * h
            for j in 0..<h {
              target[j] += source[j]
            }
          }
        }
      }
    }

    var keySum = [Float](repeating: 0, count: q * h)
    var productGradient = [Float](repeating: 0, count: q * h)
    var queryWeightGradient = [Float](repeating: 0, count: q * h)
    parameters.withUnsafeBufferPointer { parameters in
      guard let p = parameters.baseAddress else { return }
      let (keyWeights, queryWeights) = foldedWeights(p)
      let wp = productWeights(p)
      var transposedKey = Kernels.uninitializedBuffer(count: q * h)
      var transposedProduct = Kernels.uninitializedBuffer(count: q * h)
      var transposedQuery = Kernels.uninitializedBuffer(count: q * h)
      var rowMatrixGradient = Kernels.uninitializedBuffer(count: q * h)
      var transposedRowMatrix = Kernels.uninitializedBuffer(count: q * h)
      keyWeights.withUnsafeBufferPointer { wk in
        queryWeights.withUnsafeBufferPointer { wq in
          guard let wk = wk.baseAddress, let wq = wq.baseAddress else { return }
          transposedKey.withUnsafeMutableBufferPointer { tk in
            transposedProduct.withUnsafeMutableBufferPointer { tp in
              transposedQuery.withUnsafeMutableBufferPointer { tq in
                rowMatrixGradient.withUnsafeMutableBufferPointer { dM in
                  transposedRowMatrix.withUnsafeMutableBufferPointer { mt in
                    guard let tk = tk.baseAddress, let tp = tp.baseAddress,
                      let tq = tq.baseAddress, let dM = dM.baseAddress, let mt = mt.baseAddress
                    else { return }
                    Kernels.transpose(wk, tk, rows: q, columns: h)
                    Kernels.transpose(wp, tp, rows: q, columns: h)
                    Kernels.transpose(wq, tq, rows: q, columns: h)
                    let transposed = (key: UnsafePointer(tk), product: UnsafePointer(tp))
                    let scratch = (gradient: dM, transposed: mt)
                    rowsBackward(
                      wp: wp, transposed: transposed, scratch: scratch,
                      firstGradient: firstGradient, keys: keys, queries: queries,
                      keyStart: keyStart, rows: rows, keySum: &keySum,
                      productGradient: &productGradient, keyGradient: &keyGradient,
                      queryGradient: &queryGradient)
                    queryTermBackward(
                      transposedQuery: UnsafePointer(tq), rowGradient: rowGradient,
                      queries: queries, rows: rows, queryWeightGradient: &queryWeightGradient,
                      queryGradient: &queryGradient)
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
    for index in 0..<(q * h) {
      let dA = keySum[index]
      let dB = queryWeightGradient[index]
      gradients[w + index] += dA
      gradients[w + q * h + index] += dB
      gradients[w + 2 * q * h + index] += dA - dB
      gradients[w + 3 * q * h + index] += productGradient[index]
    }
    for b in 0..<rows {
      for j in 0..<h {
        gradients[first.biasOffset + j] += rowGradient[b * h + j]
      }
    }
  }

  /// Computes the per-row part of the backward pass. For each row with keys it forms
  /// `dM_b = K_b^T dfirst_b`, adds it to `keySum` (dA) and `productGradient` (dWp), adds the
  /// row's `dq` through `M_b`, and adds `dfirst_b M_b^T` to `dK_b`, with `M_b^T` rebuilt from the
  /// transposed weights.
  private func rowsBackward(
    wp: UnsafePointer<Float>,
    transposed: (key: UnsafePointer<Float>, product: UnsafePointer<Float>),
    scratch: (gradient: UnsafeMutablePointer<Float>, transposed: UnsafeMutablePointer<Float>),
    firstGradient: [Float], keys: [Float], queries: [Float], keyStart: [Int], rows: Int,
    keySum: inout [Float], productGradient: inout [Float], keyGradient: inout [Float],
    queryGradient: inout [Float]
  ) {
    let q = queryWidth
    let h = first.outputs
    let dM = scratch.gradient
    firstGradient.withUnsafeBufferPointer { dF in
      keys.withUnsafeBufferPointer { k in
        queries.withUnsafeBufferPointer { queries in
          keySum.withUnsafeMutableBufferPointer { dA in
            productGradient.withUnsafeMutableBufferPointer { dWp in
              keyGradient.withUnsafeMutableBufferPointer { dK in
                queryGradient.withUnsafeMutableBufferPointer { dq in
                  guard let dF = dF.baseAddress, let k = k.baseAddress,
                    let queries = queries.baseAddress, let dA = dA.baseAddress,
                    let dWp = dWp.baseAddress, let dK = dK.baseAddress, let dq = dq.baseAddress
                  else { return }
                  for b in 0..<rows {
                    let start = keyStart[b]
                    let count = keyStart[b + 1] - start
                    guard count > 0 else { continue }
                    let query = queries + b * q
                    dM.update(repeating: 0, count: q * h)
                    Kernels.multiplyAccumulateTransposed(
                      k + start * q, dF + start * h, dM, rows: count, m: q, n: h)
                    for i in 0..<q {
                      dq[b * q + i] += Self.accumulateRow(
                        dM + i * h, query: query[i], wp: wp + i * h, keySum: dA + i * h,
                        productGradient: dWp + i * h, width: h)
                    }
                    Self.foldQueryTransposed(
                      key: transposed.key, wp: transposed.product, query: query,
                      target: scratch.transposed, q: q, h: h)
                    Kernels.multiplyAccumulate(
                      dF + start * h, scratch.transposed, dK + start * q, m: count, k: h, n: q)
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /// Adds one row `g` of `dM_b` to `keySum` and `query * g` to `productGradient`, and returns
  /// `sum_j g[j] * wp[j]`, summed in eight lanes then across them in a fixed order.
  @inline(__always)
  private static func accumulateRow(
    _ g: UnsafeMutablePointer<Float>, query: Float, wp: UnsafePointer<Float>,
    keySum: UnsafeMutablePointer<Float>, productGradient: UnsafeMutablePointer<Float>, width: Int
  ) -> Float {
    typealias Lane = SIMD8<Float>
    var lanes = Lane()
    var j = 0
    while j + 8 <= width {
      let gv = UnsafeRawPointer(g + j).loadUnaligned(as: Lane.self)
      let wv = UnsafeRawPointer(wp + j).loadUnaligned(as: Lane.self)
      let sum = UnsafeRawPointer(keySum + j).loadUnaligned(as: Lane.self) + gv
      let product = UnsafeRawPointer(productGradient + j).loadUnaligned(as: Lane.self)
        .addingProduct(query, gv)
      UnsafeMutableRawPointer(keySum + j).storeBytes(of: sum, as: Lane.self)
      UnsafeMutableRawPointer(productGradient + j).storeBytes(of: product, as: Lane.self)
      lanes = lanes.addingProduct(gv, wv)
      j += 8
    }
    var total: Float = 0
    for lane in 0..<8 {
      total += lanes[lane]
    }
    while j < width {
      keySum[j] += g[j]
      productGradient[j] = productGradient[j].addingProduct(query, g[j])
      total = total.addingProduct(g[j], wp[j])
      j += 1
    }
    return total
  }

  /// Computes the backward pass of the row term `R = q (Wq - Wd) + b`: adds `q^T dR` to
  /// `queryWeightGradient` (dB) and `dR (Wq - Wd)^T` to `queryGradient`.
  private func queryTermBackward(
    transposedQuery: UnsafePointer<Float>, rowGradient: [Float], queries: [Float], rows: Int,
    queryWeightGradient: inout [Float], queryGradient: inout [Float]
  ) {
    let q = queryWidth
    let h = first.outputs
    rowGradient.withUnsafeBufferPointer { dR in
      queries.withUnsafeBufferPointer { queries in
        queryWeightGradient.withUnsafeMutableBufferPointer { dB in
          queryGradient.withUnsafeMutableBufferPointer { dq in
            guard let dR = dR.baseAddress, let queries = queries.baseAddress,
              let dB = dB.baseAddress, let dq = dq.baseAddress
            else { return }
            Kernels.multiplyAccumulateTransposed(queries, dR, dB, rows: rows, m: q, n: h)
            Kernels.multiplyAccumulate(dR, transposedQuery, dq, m: rows, k: h, n: q)
          }
        }
      }
    }
  }
}
