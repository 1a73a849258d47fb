// The attention model's prediction pass, which keeps no activations for a backward pass.
// Rows of one ad request (consecutive rows with the same behaviour history and the same user and
// context fields) share work: the history's keys are gathered once, and the request's part of the
// final MLP's first layer is computed once. A row's score still depends on its own values only:
// a shared part has the same bits the row would compute alone.

extension AttentionModel {
  // Prediction. batch (untrained rows already resolved) -> logits [rows].
  // The interest is computed as in `forward`, then z = [interest, E] W + b as split in
  // `firstLayerPreactivation`, then the final MLP's remaining steps as in `forward`.
  func predictionLogits(_ batch: EncodedBatch) -> [Float] {
    let s = structure
    let rows = batch.count
    guard rows > 0 else { return [] }
    let fields = gatherFields(batch)
    var interest: [Float] = []
    if let unit = s.attention {
      let queries = gatherQueries(fields, rows: rows)
      if s.mode == .sequence {
        interest = sequenceInterest(batch, queries: queries, unit: unit)
      } else {
        var cache = AttentionActivations(rows: rows, fields: fields)
        cache.queries = queries
        projectProfileKeys(into: &cache)
        cache.unit = unit.forward(
          dense, keys: cache.keys, queries: queries, keyStart: cache.keyStart, rows: rows)
        interest = poolInterest(cache)
      }
    }

    let mlp = s.mlp
    let rectify = mlp.activation == .relu && mlp.layers.count > 1
    var current = firstLayerPreactivation(
      batch, fields: fields, interest: interest, rectify: rectify)
    let moving = diceStatistics ?? .initial(units: mlp.diceUnits)
    for index in mlp.layers.indices {
      if index > 0 {
        let layer = mlp.layers[index]
        var output = Kernels.uninitializedBuffer(count: rows * layer.outputs)
        dense.withUnsafeBufferPointer { parameters in
          current.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
              guard let p = parameters.baseAddress, let x = input.baseAddress,
                let y = output.baseAddress
              else { return }
              layer.forward(
                p, input: x, output: y, rows: rows,
                relu: mlp.activation == .relu && index < mlp.layers.count - 1)
            }
          }
        }
        current = output
      }
      if index < mlp.dice.count {
        current =
          mlp.dice[index].forward(
            dense, input: current, rows: rows, normalization: .moving(moving.values)
          ).output
      }
    }
    return current
  }

  // interest [rows x Q], with the arithmetic of ActivationUnit.forward and poolInterest.
  // R_b = q_b (Wq - Wd) + b is computed for all rows at once. Then each row gets M_b, the first
  // layer K_b M_b + R_b, the unit's remaining layers, and interest_b = sum over keys j in order
  // of w_j k_j. A row whose behaviour rows equal those of the row before reuses its keys.
  private func sequenceInterest(_ batch: EncodedBatch, queries: [Float], unit: ActivationUnit)
    -> [Float]
  {
    let q = structure.queryWidth
    let d = structure.dimension
    let h = unit.first.outputs
    let rows = batch.count
    let subfields = batch.subfieldCount
    let stride = batch.sequenceStride
    let maxKeys = batch.maxSequenceLength
    let restLayers = unit.rest?.layers ?? []
    let widths = [h] + restLayers.map(\.outputs)

    let keys = UnsafeMutablePointer<Float>.allocate(capacity: max(maxKeys * q, 1))
    let matrix = UnsafeMutablePointer<Float>.allocate(capacity: q * h)
    let rowTerm = UnsafeMutablePointer<Float>.allocate(capacity: rows * h)
    let outputs = widths.map {
      UnsafeMutablePointer<Float>.allocate(capacity: max(maxKeys * $0, 1))
    }
    defer {
      keys.deallocate()
      matrix.deallocate()
      rowTerm.deallocate()
      for output in outputs { output.deallocate() }
    }

    var interest = [Float](repeating: 0, count: rows * q)
    dense.withUnsafeBufferPointer { parameters in
      embeddings.withUnsafeBufferPointer { table in
        queries.withUnsafeBufferPointer { queries in
          batch.sequenceRows.withUnsafeBufferPointer { ids in
            interest.withUnsafeMutableBufferPointer { interest in
              guard let p = parameters.baseAddress, let table = table.baseAddress,
                let queries = queries.baseAddress, let ids = ids.baseAddress,
                let interest = interest.baseAddress
              else { return }
              let (keyWeights, queryWeights) = unit.foldedWeights(p)
              let wp = unit.productWeights(p)
              keyWeights.withUnsafeBufferPointer { wk in
                queryWeights.withUnsafeBufferPointer { wq in
                  guard let wk = wk.baseAddress, let wq = wq.baseAddress else { return }
                  for b in 0..<rows {
                    (rowTerm + b * h).update(from: p + unit.first.biasOffset, count: h)
                  }
                  Kernels.multiplyAccumulate(queries, wq, rowTerm, m: rows, k: q, n: h)

                  // The row whose keys are in `keys`, or -1 before the first.
                  var gathered = -1
                  for b in 0..<rows {
                    let count = Int(batch.sequenceLengths[b])
                    guard count > 0 else { continue }
                    let items = ids + b * stride
                    let sameKeys =
                      gathered >= 0 && Int(batch.sequenceLengths[gathered]) == count
                      && Self.equal(items, ids + gathered * stride, count: count * subfields)
                    if !sameKeys {
                      for slot in 0..<(count * subfields) {
                        Kernels.copy(table + Int(items[slot]) * d, keys + slot * d, count: d)
                      }
                      gathered = b
                    }
                    ActivationUnit.foldQuery(
                      key: wk, wp: wp, query: queries + b * q, target: matrix, q: q, h: h)
                    Kernels.multiply(
                      keys, matrix, outputs[0], m: count, k: q, n: h, bias: rowTerm + b * h,
                      rectify: !restLayers.isEmpty)
                    for (index, layer) in restLayers.enumerated() {
                      layer.forward(
                        p, input: outputs[index], output: outputs[index + 1], rows: count,
                        relu: index < restLayers.count - 1)
                    }
                    let weights = outputs[outputs.count - 1]
                    let target = interest + b * q
                    for key in 0..<count {
                      let w = weights[key]
                      for i in 0..<q {
                        target[i] = target[i].addingProduct(w, keys[key * q + i])
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
    return interest
  }

  // The final MLP's first layer, z [rows x H] = x W + b for x = [interest, E], then ReLU when
  // `rectify`. With request fields r (user and context) and candidate inputs a (the interest and
  // the ad fields), z_b = a_b W_a + (r_b W_r + b): each product summed in ascending input order,
  // the request term finished with the bias, then added. The request term is computed once for
  // consecutive rows with the same request fields. Without request fields or without candidate
  // inputs, z_b = x_b W + b as in `forward`.
  private func firstLayerPreactivation(
    _ batch: EncodedBatch, fields: [Float], interest: [Float], rectify: Bool
  ) -> [Float] {
    let s = structure
    let layer = s.mlp.layers[0]
    let h = layer.outputs
    let d = s.dimension
    let rows = batch.count
    let interestWidth = s.interestWidth
    let request = s.requestFields
    let requestWidth = request.count * d
    var z = Kernels.uninitializedBuffer(count: rows * h)

    guard !request.isEmpty, interestWidth + s.adFields.count > 0 else {
      let input =
        interestWidth == 0
        ? fields : concatenate(interest, width: interestWidth, fields, width: s.fieldsWidth)
      dense.withUnsafeBufferPointer { parameters in
        input.withUnsafeBufferPointer { x in
          z.withUnsafeMutableBufferPointer { y in
            guard let p = parameters.baseAddress, let x = x.baseAddress, let y = y.baseAddress
            else { return }
            layer.forward(p, input: x, output: y, rows: rows, relu: rectify)
          }
        }
      }
      return z
    }

    // Groups of consecutive rows with the same request fields. groupStart[g] is a group's first
    // row.
    var groupStart: [Int] = []
    batch.fieldRows.withUnsafeBufferPointer { ids in
      let f = s.fieldCount
      for b in 0..<rows
      where b == 0 || request.contains(where: { ids[b * f + $0] != ids[(b - 1) * f + $0] }) {
        groupStart.append(b)
      }
    }
    let groups = groupStart.count
    groupStart.append(rows)

    var requestInput = Kernels.uninitializedBuffer(count: groups * requestWidth)
    var requestTerm = Kernels.uninitializedBuffer(count: groups * h)
    dense.withUnsafeBufferPointer { parameters in
      fields.withUnsafeBufferPointer { fields in
        interest.withUnsafeBufferPointer { interest in
          requestInput.withUnsafeMutableBufferPointer { xr in
            requestTerm.withUnsafeMutableBufferPointer { term in
              z.withUnsafeMutableBufferPointer { z in
                guard let p = parameters.baseAddress, let fields = fields.baseAddress,
                  let xr = xr.baseAddress, let term = term.baseAddress, let z = z.baseAddress
                else { return }
                // Row i of W is the weight row of input i of x = [interest, E].
                let w = p + layer.weightOffset
                for g in 0..<groups {
                  for (slot, field) in request.enumerated() {
                    Kernels.copy(
                      fields + groupStart[g] * s.fieldsWidth + field * d,
                      xr + g * requestWidth + slot * d, count: d)
                  }
                }
                // r W_r + b, one run of adjacent fields' block of W after another.
                for run in Self.adjacentRuns(request) {
                  Kernels.multiplyAccumulate(
                    xr + run.slot * d, rowStride: requestWidth,
                    w + (interestWidth + run.field * d) * h, term, m: groups, k: run.count * d,
                    n: h, overwrite: run.slot == 0)
                }
                Kernels.addToRows(
                  p + layer.biasOffset, term, rows: groups, width: h, rectify: false)
                // a W_a, read in place: the interest, then each ad field.
                var started = false
                if interestWidth > 0, let interest = interest.baseAddress {
                  Kernels.multiplyAccumulate(
                    interest, rowStride: interestWidth, w, z, m: rows, k: interestWidth, n: h,
                    overwrite: true)
                  started = true
                }
                for run in Self.adjacentRuns(s.adFields) {
                  Kernels.multiplyAccumulate(
                    fields + run.field * d, rowStride: s.fieldsWidth,
                    w + (interestWidth + run.field * d) * h, z, m: rows, k: run.count * d, n: h,
                    overwrite: !started)
                  started = true
                }
                for g in 0..<groups {
                  Kernels.addToRows(
                    term + g * h, z + groupStart[g] * h, rows: groupStart[g + 1] - groupStart[g],
                    width: h, rectify: rectify)
                }
              }
            }
          }
        }
      }
    }
    return z
  }

  /// Splits ascending field indices into runs of consecutive fields: each run's first field,
  /// its position in `fields`, and its length.
  private static func adjacentRuns(_ fields: [Int]) -> [(field: Int, slot: Int, count: Int)] {
    var runs: [(field: Int, slot: Int, count: Int)] = []
    for (slot, field) in fields.enumerated() {
      if let last = runs.last, last.field + last.count == field {
        runs[runs.count - 1].count += 1
      } else {
        runs.append((field, slot, 1))
      }
    }
    return runs
  }

  /// Returns whether `count` values at `a` and at `b` are equal.
  private static func equal(_ a: UnsafePointer<Int32>, _ b: UnsafePointer<Int32>, count: Int)
    -> Bool
  {
    for index in 0..<count where a[index] != b[index] {
      return false
    }
    return true
  }
}
