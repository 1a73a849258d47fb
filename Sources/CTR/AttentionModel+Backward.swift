// The attention model's backward pass: gradients of the mean cross-entropy for the dense
// weights and for the embedding rows the batch touched. It reads the forward activations only.

extension AttentionModel {
  // Backward. activations of B rows, dlogit [B] -> dense gradients [denseCount] (returned) and
  // embedding-row gradients (added to `sparse`, rows of width D).
  func backward(
    _ cache: AttentionActivations, batch: EncodedBatch, logitGradient: [Float],
    sparse: inout SparseGradient
  ) -> [Float] {
    let s = structure
    let rows = cache.rows
    var gradients = [Float](repeating: 0, count: s.denseCount)
    // logit = MLP(X0): dX0 [rows x (Q + F * D)].
    let inputGradient: [Float]
    if s.mlp.activation == .dice {
      inputGradient = s.mlp.backward(
        dense, gradients: &gradients, input: cache.mlpInput,
        activations: DiceMLPActivations(outputs: cache.mlpActivations, caches: cache.mlpDice),
        outputGradient: logitGradient, rows: rows, needInputGradient: true)
    } else {
      inputGradient = s.mlp.backward(
        dense, gradients: &gradients, input: cache.mlpInput, activations: cache.mlpActivations,
        outputGradient: logitGradient, rows: rows, needInputGradient: true)
    }

    // X0 = [interest, E]: split dX0 into d interest [rows x Q] and dE [rows x F * D].
    var fieldGradient = [Float](repeating: 0, count: rows * s.fieldsWidth)
    var interestGradient = [Float](repeating: 0, count: rows * s.interestWidth)
    let total = s.interestWidth + s.fieldsWidth
    for b in 0..<rows {
      for j in 0..<s.interestWidth {
        interestGradient[b * s.interestWidth + j] = inputGradient[b * total + j]
      }
      for j in 0..<s.fieldsWidth {
        fieldGradient[b * s.fieldsWidth + j] = inputGradient[b * total + s.interestWidth + j]
      }
    }

    if s.mode != .plain {
      let keyGradient = attentionBackward(
        cache, interestGradient: interestGradient, fieldGradient: &fieldGradient,
        gradients: &gradients)
      if s.mode == .sequence {
        addSequenceKeyGradients(keyGradient, batch: batch, cache: cache, sparse: &sparse)
      } else {
        profileKeysBackward(
          keyGradient, cache: cache, fieldGradient: &fieldGradient, gradients: &gradients)
      }
    }

    // E[b, f] = embeddings[fieldRows[b, f]]: each row's gradient is the sum over its uses.
    let d = s.dimension
    fieldGradient.withUnsafeBufferPointer { dE in
      guard let dE = dE.baseAddress else { return }
      for index in 0..<(rows * s.fieldCount) {
        sparse.add(row: batch.fieldRows[index], dE + index * d)
      }
    }
    return gradients
  }

  // Backward of pooling, activation unit and query gathering.
  // d interest [rows x Q] -> dK [keys x Q] (returned); adds the query's share to dE and the
  // unit's weight gradients to `gradients`.
  private func attentionBackward(
    _ cache: AttentionActivations, interestGradient: [Float], fieldGradient: inout [Float],
    gradients: inout [Float]
  ) -> [Float] {
    let s = structure
    let q = s.queryWidth
    let keyCount = cache.keyCount
    let weights = cache.keyWeights
    // interest_b = sum_j w_j k_j: dw_j = <d interest_b, k_j>, dk_j = w_j * d interest_b.
    var weightGradient = [Float](repeating: 0, count: keyCount)
    // The loop below writes every element.
    var keyGradient = Kernels.uninitializedBuffer(count: keyCount * q)
    interestGradient.withUnsafeBufferPointer { dI in
      cache.keys.withUnsafeBufferPointer { k in
        keyGradient.withUnsafeMutableBufferPointer { dK in
          weightGradient.withUnsafeMutableBufferPointer { dw in
            guard let dI = dI.baseAddress, let k = k.baseAddress, let dK = dK.baseAddress,
              let dw = dw.baseAddress
            else { return }
            for b in 0..<cache.rows {
              let upstream = dI + b * q
              for key in cache.keyStart[b]..<cache.keyStart[b + 1] {
                dw[key] = Kernels.dot(upstream, k + key * q, count: q)
                let weight = weights[key]
                let target = dK + key * q
                for i in 0..<q {
                  target[i] = weight * upstream[i]
                }
              }
            }
          }
        }
      }
    }

    // w = unit(K, q): dK and dq through the activation unit.
    guard let unit = s.attention else { return keyGradient }
    var queryGradient = [Float](repeating: 0, count: cache.rows * q)
    unit.backward(
      dense, gradients: &gradients, activations: cache.unit, keys: cache.keys,
      queries: cache.queries, keyStart: cache.keyStart, rows: cache.rows,
      weightGradient: weightGradient, keyGradient: &keyGradient, queryGradient: &queryGradient)

    // q_b slot i = E[b, queryFields[i]].
    let d = s.dimension
    for b in 0..<cache.rows {
      for (slot, field) in s.queryFields.enumerated() {
        for j in 0..<d {
          fieldGradient[b * s.fieldsWidth + field * d + j] += queryGradient[b * q + slot * d + j]
        }
      }
    }
    return keyGradient
  }

  // K[key, sub] = embeddings[sequenceRows[b, t, sub]]: dK [keys x Q] goes to those rows.
  private func addSequenceKeyGradients(
    _ keyGradient: [Float], batch: EncodedBatch, cache: AttentionActivations,
    sparse: inout SparseGradient
  ) {
    let d = structure.dimension
    let subfields = batch.subfieldCount
    keyGradient.withUnsafeBufferPointer { dK in
      guard let dK = dK.baseAddress else { return }
      for b in 0..<cache.rows {
        for t in 0..<Int(batch.sequenceLengths[b]) {
          let key = cache.keyStart[b] + t
          for sub in 0..<subfields {
            let id = batch.sequenceRows[b * batch.sequenceStride + t * subfields + sub]
            sparse.add(row: id, dK + (key * subfields + sub) * d)
          }
        }
      }
    }
  }

  // Backward of the profile projections. K(b, u) = X_u[b] W_u + b_u with X_u[b] = E[b, field u].
  // dK [rows * U x Q] -> dW_u, db_u (into `gradients`) and dX_u (added to dE).
  private func profileKeysBackward(
    _ keyGradient: [Float], cache: AttentionActivations, fieldGradient: inout [Float],
    gradients: inout [Float]
  ) {
    let s = structure
    let d = s.dimension
    let q = s.queryWidth
    let rows = cache.rows
    let users = s.userFields.count
    for (u, field) in s.userFields.enumerated() {
      var outputGradient = [Float](repeating: 0, count: rows * q)
      for b in 0..<rows {
        for j in 0..<q {
          outputGradient[b * q + j] = keyGradient[(b * users + u) * q + j]
        }
      }
      var inputGradient = [Float](repeating: 0, count: rows * d)
      dense.withUnsafeBufferPointer { parameters in
        gradients.withUnsafeMutableBufferPointer { grads in
          cache.projectionInputs[u].withUnsafeBufferPointer { x in
            outputGradient.withUnsafeBufferPointer { dy in
              inputGradient.withUnsafeMutableBufferPointer { dx in
                guard let p = parameters.baseAddress, let g = grads.baseAddress,
                  let x = x.baseAddress, let dy = dy.baseAddress
                else { return }
                s.projections[u].backward(
                  p, gradients: g, input: x, outputGradient: dy, inputGradient: dx.baseAddress,
                  rows: rows)
              }
            }
          }
        }
      }
      for b in 0..<rows {
        for j in 0..<d {
          fieldGradient[b * s.fieldsWidth + field * d + j] += inputGradient[b * d + j]
        }
      }
    }
  }
}
