// The attention model's forward pass, keeping every activation the backward pass needs.
// Every step works row by row in a fixed order, so a row's logit never depends on the batch,
// except Dice under batch statistics, which only training requests.

/// Activations of one forward pass. Keys of row b are `keyStart[b]..<keyStart[b + 1]`.
struct AttentionActivations {
  var rows: Int
  /// E [rows x F * D]: every field's embedding.
  var fields: [Float]
  /// q [rows x Q].
  var queries: [Float] = []
  /// [rows + 1] key ranges per row.
  var keyStart: [Int] = []
  /// K [keys x Q].
  var keys: [Float] = []
  /// X_u [rows x D] per user field (profile mode).
  var projectionInputs: [[Float]] = []
  /// The activation unit's activations; its `weights` are the key weights [keys x 1].
  var unit = ActivationUnit.Activations()
  /// X0 [rows x (Q + F * D)] = [interest, E] (just E in plain mode).
  var mlpInput: [Float] = []
  /// Final-MLP layer outputs; the last is the logits [rows x 1].
  var mlpActivations: [[Float]] = []
  /// The final MLP's Dice caches, one per hidden layer (empty for ReLU).
  var mlpDice: [DiceActivation.Cache] = []

  var logits: [Float] { mlpActivations[mlpActivations.count - 1] }
  var keyCount: Int { keyStart.last ?? 0 }
  var keyWeights: [Float] { unit.weights }
}

extension AttentionModel {
  // Forward. batch of B rows -> activations with logits [B].
  // E = embed(fieldRows); q, K from E or the sequence; w = unit([k, q, k - q, k * q]);
  // interest_b = sum over real keys of w_j k_j; logit = MLP([interest, E]).
  // With `batchStatistics`, Dice layers normalize with the statistics of this call's rows
  // (training); otherwise with the model's moving statistics (prediction).
  func forward(_ batch: EncodedBatch, batchStatistics: Bool = false) -> AttentionActivations {
    let s = structure
    let rows = batch.count
    var cache = AttentionActivations(rows: rows, fields: gatherFields(batch))
    guard s.mode != .plain, let unit = s.attention else {
      cache.mlpInput = cache.fields
      runMLP(&cache, batchStatistics: batchStatistics)
      return cache
    }

    cache.queries = gatherQueries(cache.fields, rows: rows)
    if s.mode == .sequence {
      gatherSequenceKeys(batch, into: &cache)
    } else {
      projectProfileKeys(into: &cache)
    }
    cache.unit = unit.forward(
      dense, keys: cache.keys, queries: cache.queries, keyStart: cache.keyStart, rows: rows)
    let interest = poolInterest(cache)
    cache.mlpInput = concatenate(interest, width: s.queryWidth, cache.fields, width: s.fieldsWidth)
    runMLP(&cache, batchStatistics: batchStatistics)
    return cache
  }

  // Final MLP: mlpInput [rows x (Q + F * D)] -> mlpActivations, and Dice caches for Dice.
  private func runMLP(_ cache: inout AttentionActivations, batchStatistics: Bool) {
    let mlp = structure.mlp
    guard mlp.activation == .dice, batchStatistics else {
      cache.mlpActivations = predictionMLPForward(cache.mlpInput, rows: cache.rows)
      return
    }
    let result = mlp.forward(dense, input: cache.mlpInput, rows: cache.rows, normalization: .batch)
    cache.mlpActivations = result.outputs
    cache.mlpDice = result.caches
  }

  /// Returns every final-MLP layer's output for `input` [rows x mlp.inputs] as prediction
  /// computes it: Dice layers normalize with the moving statistics, so each row's output is
  /// independent of the others. The last output is the logits [rows x 1].
  func predictionMLPForward(_ input: [Float], rows: Int) -> [[Float]] {
    let mlp = structure.mlp
    guard mlp.activation == .dice else {
      return mlp.forward(dense, input: input, rows: rows)
    }
    let moving = diceStatistics ?? .initial(units: mlp.diceUnits)
    return mlp.forward(dense, input: input, rows: rows, normalization: .moving(moving.values))
      .outputs
  }

  // E [rows x F * D]: E[b, f] = embeddings[fieldRows[b, f]].
  func gatherFields(_ batch: EncodedBatch) -> [Float] {
    let d = structure.dimension
    let count = batch.count * structure.fieldCount
    var fields = Kernels.uninitializedBuffer(count: count * d)
    embeddings.withUnsafeBufferPointer { table in
      batch.fieldRows.withUnsafeBufferPointer { ids in
        fields.withUnsafeMutableBufferPointer { out in
          guard let table = table.baseAddress, let out = out.baseAddress else { return }
          for index in 0..<count {
            Kernels.copy(table + Int(ids[index]) * d, out + index * d, count: d)
          }
        }
      }
    }
    return fields
  }

  // q [rows x Q]: slot i of q_b is E[b, queryFields[i]].
  func gatherQueries(_ fields: [Float], rows: Int) -> [Float] {
    let s = structure
    let d = s.dimension
    var queries = [Float](repeating: 0, count: rows * s.queryWidth)
    for b in 0..<rows {
      for (slot, field) in s.queryFields.enumerated() {
        let source = b * s.fieldsWidth + field * d
        let target = b * s.queryWidth + slot * d
        for j in 0..<d {
          queries[target + j] = fields[source + j]
        }
      }
    }
    return queries
  }

  // K [keys x Q]: key j of row b is item t of its sequence, the concatenated embeddings of its
  // sub-fields. Padding slots past the row's length make no key at all.
  private func gatherSequenceKeys(_ batch: EncodedBatch, into cache: inout AttentionActivations) {
    let d = structure.dimension
    let subfields = batch.subfieldCount
    var keyStart = [Int](repeating: 0, count: batch.count + 1)
    for b in 0..<batch.count {
      keyStart[b + 1] = keyStart[b] + Int(batch.sequenceLengths[b])
    }
    // Every key's sub-field slots are written below, and they fill the query width.
    var keys = Kernels.uninitializedBuffer(count: keyStart[batch.count] * structure.queryWidth)
    embeddings.withUnsafeBufferPointer { table in
      batch.sequenceRows.withUnsafeBufferPointer { ids in
        keys.withUnsafeMutableBufferPointer { out in
          guard let table = table.baseAddress, let out = out.baseAddress else { return }
          for b in 0..<batch.count {
            for t in 0..<Int(batch.sequenceLengths[b]) {
              let key = keyStart[b] + t
              for sub in 0..<subfields {
                let id = Int(ids[b * batch.sequenceStride + t * subfields + sub])
                Kernels.copy(table + id * d, out + (key * subfields + sub) * d, count: d)
              }
            }
          }
        }
      }
    }
    cache.keyStart = keyStart
    cache.keys = keys
  }

  // K [rows * U x Q]: key (b, u) = E[b, userFields[u]] W_u + b_u, for each user field u.
  func projectProfileKeys(into cache: inout AttentionActivations) {
    let s = structure
    let d = s.dimension
    let rows = cache.rows
    let users = s.userFields.count
    cache.keyStart = (0...rows).map { $0 * users }
    cache.keys = [Float](repeating: 0, count: rows * users * s.queryWidth)
    cache.projectionInputs = []
    for (u, field) in s.userFields.enumerated() {
      var input = [Float](repeating: 0, count: rows * d)
      for b in 0..<rows {
        for j in 0..<d {
          input[b * d + j] = cache.fields[b * s.fieldsWidth + field * d + j]
        }
      }
      var output = [Float](repeating: 0, count: rows * s.queryWidth)
      dense.withUnsafeBufferPointer { parameters in
        input.withUnsafeBufferPointer { x in
          output.withUnsafeMutableBufferPointer { y in
            guard let p = parameters.baseAddress, let x = x.baseAddress, let y = y.baseAddress
            else { return }
            s.projections[u].forward(p, input: x, output: y, rows: rows, relu: false)
          }
        }
      }
      for b in 0..<rows {
        let target = (b * users + u) * s.queryWidth
        for j in 0..<s.queryWidth {
          cache.keys[target + j] = output[b * s.queryWidth + j]
        }
      }
      cache.projectionInputs.append(input)
    }
  }

  // interest [rows x Q]: interest_b = sum over keys j of row b, in order, of w_j * k_j.
  func poolInterest(_ cache: AttentionActivations) -> [Float] {
    let q = structure.queryWidth
    let weights = cache.keyWeights
    var interest = [Float](repeating: 0, count: cache.rows * q)
    cache.keys.withUnsafeBufferPointer { k in
      interest.withUnsafeMutableBufferPointer { out in
        for b in 0..<cache.rows {
          for key in cache.keyStart[b]..<cache.keyStart[b + 1] {
            let w = weights[key]
            for i in 0..<q {
              out[b * q + i] = out[b * q + i].addingProduct(w, k[key * q + i])
            }
          }
        }
      }
    }
    return interest
  }

  // [rows x (leftWidth + rightWidth)] from two row-major blocks with the same row count.
  func concatenate(_ left: [Float], width leftWidth: Int, _ right: [Float], width: Int)
    -> [Float]
  {
    let rows = width == 0 ? 0 : right.count / width
    let total = leftWidth + width
    var result = [Float](repeating: 0, count: rows * total)
    for b in 0..<rows {
      for j in 0..<leftWidth {
        result[b * total + j] = left[b * leftWidth + j]
      }
      for j in 0..<width {
        result[b * total + leftWidth + j] = right[b * width + j]
      }
    }
    return result
  }
}
