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
    /// Outputs of the remaining layers one after another: layer i's [keys x outputs] starts at
    /// `restOffsets[i]`, and the last one is the key weights [keys x 1].
    var restOutputs: [Float] = []
    var restOffsets: [Int] = []
    /// The key weights [keys x 1].
    var weights: [Float] = []
  }

  /// The number of keys at which a pass starts a new chunk of rows. A chunk's activations and
  /// gradients (120 Floats of each per key with hidden layers of 80 and 40) then stay in the
  /// second-level cache from one layer to the next, which a whole batch's would not.
  static let defaultChunkKeys = 768

  /// Returns the row ranges of the chunks: consecutive rows, each chunk ending at the first
  /// row that takes its keys to `chunkKeys` or more.
  static func chunks(keyStart: [Int], rows: Int, chunkKeys: Int) -> [Range<Int>] {
    var result: [Range<Int>] = []
    var start = 0
    while start < rows {
      var end = start + 1
      while end < rows && keyStart[end] - keyStart[start] < chunkKeys {
        end += 1
      }
      result.append(start..<end)
      start = end
    }
    return result
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
  // each key j of row b (the product first, then R_b is added); then the rest. Rows go in
  // chunks of about `chunkKeys` keys through every layer, which changes no value.
  func forward(
    _ parameters: [Float], keys: [Float], queries: [Float], keyStart: [Int], rows: Int,
    chunkKeys: Int = defaultChunkKeys
  ) -> Activations {
    let q = queryWidth
    let h = first.outputs
    let keyCount = keyStart[rows]
    let restLayers = rest?.layers ?? []
    var result = Activations()
    // The loops below write every key's row of every layer's output.
    result.firstOutput = Kernels.uninitializedBuffer(count: keyCount * h)
    var restSize = 0
    for layer in restLayers {
      result.restOffsets.append(restSize)
      restSize += keyCount * layer.outputs
    }
    result.restOutputs = Kernels.uninitializedBuffer(count: restSize)
    var rowTerm = Kernels.uninitializedBuffer(count: rows * h)
    var rowMatrix = Kernels.uninitializedBuffer(count: q * h)
    let relu = rest != nil
    let offsets = result.restOffsets
    parameters.withUnsafeBufferPointer { parameters in
      guard let p = parameters.baseAddress else { return }
      let (keyWeights, queryWeights) = foldedWeights(p)
      let wp = productWeights(p)
      queries.withUnsafeBufferPointer { queries in
        keys.withUnsafeBufferPointer { keys in
          rowTerm.withUnsafeMutableBufferPointer { rowTerm in
            rowMatrix.withUnsafeMutableBufferPointer { matrix in
              result.firstOutput.withUnsafeMutableBufferPointer { output in
                result.restOutputs.withUnsafeMutableBufferPointer { restOutput in
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
                      // Each chunk of rows goes through every layer while it is in cache.
                      for chunk in Self.chunks(
                        keyStart: keyStart, rows: rows, chunkKeys: chunkKeys)
                      {
                        for b in chunk {
                          let start = keyStart[b]
                          let count = keyStart[b + 1] - start
                          guard count > 0 else { continue }
                          Self.foldQuery(
                            key: wk, wp: wp, query: queries + b * q, target: matrix, q: q, h: h)
                          Kernels.multiply(
                            keys + start * q, matrix, output + start * h, m: count, k: q, n: h,
                            bias: rowTerm + b * h, rectify: relu)
                        }
                        let firstKey = keyStart[chunk.lowerBound]
                        let count = keyStart[chunk.upperBound] - firstKey
                        guard count > 0, let restOutput = restOutput.baseAddress else { continue }
                        for (index, layer) in restLayers.enumerated() {
                          let input =
                            index == 0
                            ? UnsafePointer(output + firstKey * h)
                            : UnsafePointer(
                              restOutput + offsets[index - 1] + firstKey * layer.inputs)
                          layer.forward(
                            p, input: input,
                            output: restOutput + offsets[index] + firstKey * layer.outputs,
                            rows: count, relu: index < restLayers.count - 1)
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
    if let last = offsets.last {
      result.weights = Array(result.restOutputs[last..<(last + keyCount)])
    } else {
      result.weights = result.firstOutput
    }
    return result
  }

  // Backward. dweights [keys x 1] -> dK [keys x Q] and dq [rows x Q] (both added to), weight
  // gradients added to `gradients` in the plain `4Q -> H` layout.
  // Per row: dM_b = K_b^T dfirst_b, dK_b = dfirst_b M_b^T, dq_b[i] += sum_j dM_b[i, j] Wp[i, j];
  // over rows: dA = sum dM_b, dWp[i, :] = sum q_b[i] dM_b[i, :], dR_b = sum of the row's dfirst,
  // dB = q^T dR, dq += dR (Wq - Wd)^T. Then dWk = dA, dWd = dA - dB, dWq = dB.
  // Rows go in chunks as in the forward pass, so that each chunk's dfirst is used while it is
  // in cache. Every sum still adds its terms in row and key order, as one pass over all
  // rows would.
  func backward(
    _ parameters: [Float], gradients: inout [Float], activations: Activations,
    keys: [Float], queries: [Float], keyStart: [Int], rows: Int, weightGradient: [Float],
    keyGradient: inout [Float], queryGradient: inout [Float], chunkKeys: Int = defaultChunkKeys
  ) {
    let q = queryWidth
    let h = first.outputs
    let restLayers = rest?.layers ?? []
    let chunks = Self.chunks(keyStart: keyStart, rows: rows, chunkKeys: chunkKeys)
    let largest = chunks.map { keyStart[$0.upperBound] - keyStart[$0.lowerBound] }.max() ?? 0
    // One chunk's dfirst [chunk keys x H], and the gradients of the hidden outputs between the
    // later layers, one after another. Each backward step overwrites what it uses.
    var chunkGradient = Kernels.uninitializedBuffer(count: rest == nil ? 0 : largest * h)
    var scratchOffsets = [Int](repeating: 0, count: restLayers.count)
    var scratchSize = 0
    for index in restLayers.indices.dropFirst() {
      scratchOffsets[index] = scratchSize
      scratchSize += largest * restLayers[index].inputs
    }
    // At least one element, so that its base address exists when no later layer needs it.
    var scratch = Kernels.uninitializedBuffer(count: max(scratchSize, 1))

    var rowGradient = [Float](repeating: 0, count: rows * h)
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
                    let rowScratch = (gradient: dM, transposed: mt)
                    for chunk in chunks {
                      let firstKey = keyStart[chunk.lowerBound]
                      let count = keyStart[chunk.upperBound] - firstKey
                      guard count > 0 else { continue }
                      chunkGradient.withUnsafeMutableBufferPointer { chunkGradient in
                        weightGradient.withUnsafeBufferPointer { weightGradient in
                          guard let weightGradient = weightGradient.baseAddress else { return }
                          var firstGradient = weightGradient + firstKey
                          if rest != nil, let target = chunkGradient.baseAddress {
                            restBackward(
                              p, gradients: &gradients, activations: activations,
                              keys: firstKey..<(firstKey + count),
                              outputGradient: firstGradient, inputGradient: target,
                              scratch: &scratch, scratchOffsets: scratchOffsets)
                            firstGradient = UnsafePointer(target)
                          }
                          addRowGradients(
                            firstGradient, firstKey: firstKey, keyStart: keyStart, rows: chunk,
                            rowGradient: &rowGradient)
                          rowsBackward(
                            wp: wp, transposed: transposed, scratch: rowScratch,
                            firstGradient: firstGradient, firstKey: firstKey, keys: keys,
                            queries: queries, keyStart: keyStart, rows: chunk, keySum: &keySum,
                            productGradient: &productGradient, keyGradient: &keyGradient,
                            queryGradient: &queryGradient)
                        }
                      }
                    }
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

  /// Runs the backward pass of the layers after the first over `keys`: adds their weight
  /// gradients to `gradients` and writes `dfirst [keys x H]` into `inputGradient`, through the
  /// ReLU of the first layer's output. `outputGradient` points at the first key's weight
  /// gradient, and `scratch` contains the later layers' input gradients at `scratchOffsets`.
  private func restBackward(
    _ p: UnsafePointer<Float>, gradients: inout [Float], activations: Activations,
    keys: Range<Int>, outputGradient: UnsafePointer<Float>,
    inputGradient: UnsafeMutablePointer<Float>, scratch: inout [Float], scratchOffsets: [Int]
  ) {
    guard let layers = rest?.layers else { return }
    let firstKey = keys.lowerBound
    let h = first.outputs
    gradients.withUnsafeMutableBufferPointer { gradients in
      scratch.withUnsafeMutableBufferPointer { scratch in
        activations.firstOutput.withUnsafeBufferPointer { firstOutput in
          activations.restOutputs.withUnsafeBufferPointer { restOutputs in
            guard let g = gradients.baseAddress, let scratch = scratch.baseAddress,
              let firstOutput = firstOutput.baseAddress, let restOutputs = restOutputs.baseAddress
            else { return }
            for index in stride(from: layers.count - 1, through: 0, by: -1) {
              let layer = layers[index]
              let upstream =
                index == layers.count - 1
                ? outputGradient : UnsafePointer(scratch + scratchOffsets[index + 1])
              // The layer's input is a ReLU output (the first layer's or a hidden layer's), so
              // it also masks the input gradient.
              let input =
                index == 0
                ? firstOutput + firstKey * h
                : restOutputs + activations.restOffsets[index - 1] + firstKey * layer.inputs
              let target =
                index == 0 ? inputGradient : scratch + scratchOffsets[index]
              layer.backward(
                p, gradients: g, input: input, outputGradient: upstream, inputGradient: target,
                rows: keys.count, inputMask: input)
            }
          }
        }
      }
    }
  }

  /// Adds each row's sum of `dfirst` over its keys to `rowGradient` (`dR_b`), in key order.
  /// `firstGradient` points at the row of key `firstKey`.
  private func addRowGradients(
    _ firstGradient: UnsafePointer<Float>, firstKey: Int, keyStart: [Int], rows: Range<Int>,
    rowGradient: inout [Float]
  ) {
    let h = first.outputs
    rowGradient.withUnsafeMutableBufferPointer { dR in
      guard let dR = dR.baseAddress else { return }
      for b in rows {
        let target = dR + b * h
        for key in keyStart[b]..<keyStart[b + 1] {
          let source = firstGradient + (key - firstKey) * h
          for j in 0..<h {
            target[j] += source[j]
          }
        }
      }
    }
  }

  /// Computes the per-row part of the backward pass for `rows`. For each row with keys it forms
  /// `dM_b = K_b^T dfirst_b`, adds it to `keySum` (dA) and `productGradient` (dWp), adds the
  /// row's `dq` through `M_b`, and adds `dfirst_b M_b^T` to `dK_b`, with `M_b^T` rebuilt from the
  /// transposed weights. `firstGradient` points at the row of key `firstKey`.
  private func rowsBackward(
    wp: UnsafePointer<Float>,
    transposed: (key: UnsafePointer<Float>, product: UnsafePointer<Float>),
    scratch: (gradient: UnsafeMutablePointer<Float>, transposed: UnsafeMutablePointer<Float>),
    firstGradient: UnsafePointer<Float>, firstKey: Int, keys: [Float], queries: [Float],
    keyStart: [Int], rows: Range<Int>, keySum: inout [Float], productGradient: inout [Float],
    keyGradient: inout [Float], queryGradient: inout [Float]
  ) {
    let q = queryWidth
    let h = first.outputs
    let dM = scratch.gradient
    keys.withUnsafeBufferPointer { k in
      queries.withUnsafeBufferPointer { queries in
        keySum.withUnsafeMutableBufferPointer { dA in
          productGradient.withUnsafeMutableBufferPointer { dWp in
            keyGradient.withUnsafeMutableBufferPointer { dK in
              queryGradient.withUnsafeMutableBufferPointer { dq in
                guard let k = k.baseAddress, let queries = queries.baseAddress,
                  let dA = dA.baseAddress, let dWp = dWp.baseAddress, let dK = dK.baseAddress,
                  let dq = dq.baseAddress
                else { return }
                for b in rows {
                  let start = keyStart[b]
                  let count = keyStart[b + 1] - start
                  guard count > 0 else { continue }
                  let query = queries + b * q
                  let rowGradient = firstGradient + (start - firstKey) * h
                  dM.update(repeating: 0, count: q * h)
                  Kernels.multiplyAccumulateTransposed(
                    k + start * q, rowGradient, dM, rows: count, m: q, n: h)
                  for i in 0..<q {
                    dq[b * q + i] += Self.accumulateRow(
                      dM + i * h, query: query[i], wp: wp + i * h, keySum: dA + i * h,
                      productGradient: dWp + i * h, width: h)
                  }
                  Self.foldQueryTransposed(
                    key: transposed.key, wp: transposed.product, query: query,
                    target: scratch.transposed, q: q, h: h)
                  Kernels.multiplyAccumulate(
                    rowGradient, scratch.transposed, dK + start * q, m: count, k: h, n: q)
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
