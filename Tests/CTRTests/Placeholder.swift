import CTR
