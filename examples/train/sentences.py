"""The small language of the Diffusion-LM example (examples/diffusion_lm.cpp defines the same
grammar in C++ over the same word list, models/diffusion_lm.vocab.txt).

Sentences have six words, DET ADJ NOUN VERB DET NOUN, with number agreement: the subject's
determiner, noun and verb share a number (singular or plural), and so do the object's determiner
and noun ("the" goes with both). 33 words; 55296 grammatical sentences.

Each word is a fixed random vector of EMBED_DIM (8) coordinates (seeded; norm sqrt(8), so a
coordinate has variance about 1, the prior's), and a sentence is the concatenation of its six
word vectors (48 coordinates): the data of a continuous diffusion over word embeddings, as in
Diffusion-LM (Li et al. 2022, whose embeddings are learned; fixed ones keep the example small).
A sample is read back by the nearest word of each position's 8 coordinates.

Run this file to write models/diffusion_lm.{vocab.txt,embedding.npy,train_sentences.npy}.
"""
import argparse
import os

import numpy as np

DET_SG = ["a", "one", "every"]
DET_PL = ["two", "many", "some"]
DET_ANY = ["the"]
ADJ = ["big", "small", "red", "old", "happy", "quiet"]
NOUN_SG = ["cat", "dog", "bird", "child", "robot", "farmer"]
NOUN_PL = ["cats", "dogs", "birds", "children", "robots", "farmers"]
VERB_SG = ["sees", "likes", "chases", "helps"]
VERB_PL = ["see", "like", "chase", "help"]
VOCAB = DET_ANY + DET_SG + DET_PL + ADJ + NOUN_SG + NOUN_PL + VERB_SG + VERB_PL
INDEX = {w: i for i, w in enumerate(VOCAB)}
LENGTH = 6
EMBED_DIM = 8
EMBED_SEED = 2022
TRAIN_SENTENCES = 2000
HELDOUT_SENTENCES = 2000
SPLIT_SEED = 16


def _dets(number):
    return DET_ANY + (DET_SG if number == 0 else DET_PL)


def all_sentences():
    """Every grammatical sentence, as an int64 array [55296, 6] of word indices (a fixed order)."""
    rows = []
    for n1 in (0, 1):
        nouns1, verbs = (NOUN_SG, VERB_SG) if n1 == 0 else (NOUN_PL, VERB_PL)
        for n2 in (0, 1):
            nouns2 = NOUN_SG if n2 == 0 else NOUN_PL
            for d1 in _dets(n1):
                for a in ADJ:
                    for s in nouns1:
                        for v in verbs:
                            for d2 in _dets(n2):
                                for o in nouns2:
                                    rows.append([INDEX[w] for w in (d1, a, s, v, d2, o)])
    return np.array(rows, dtype=np.int64)


def is_grammatical(ids):
    """Whether the word indices of one sentence form a sentence of the grammar."""
    w = [VOCAB[i] for i in ids]
    if len(w) != LENGTH or w[1] not in ADJ:
        return False

    def number_of(word, sg, pl):
        return 0 if word in sg else 1 if word in pl else None
    n1 = number_of(w[2], NOUN_SG, NOUN_PL)
    n2 = number_of(w[5], NOUN_SG, NOUN_PL)
    if n1 is None or n2 is None or number_of(w[3], VERB_SG, VERB_PL) != n1:
        return False
    return w[0] in _dets(n1) and w[4] in _dets(n2)


def embedding():
    """The word vectors [33, 8]: Gaussian directions scaled to norm sqrt(8)."""
    rng = np.random.default_rng(EMBED_SEED)
    e = rng.standard_normal((len(VOCAB), EMBED_DIM))
    return e / np.linalg.norm(e, axis=1, keepdims=True) * np.sqrt(EMBED_DIM)


def split(name):
    """Word indices of the training corpus ("train", 2000 sentences) or of 2000 other ones
    ("heldout"), drawn without replacement from all grammatical sentences."""
    every = all_sentences()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(every))
    if name == "train":
        return every[order[:TRAIN_SENTENCES]]
    return every[order[TRAIN_SENTENCES:TRAIN_SENTENCES + HELDOUT_SENTENCES]]


def encode(ids):
    """[n, 6] word indices -> [n, 48] concatenated word vectors."""
    return embedding()[ids].reshape(ids.shape[0], LENGTH * EMBED_DIM)


def decode(x):
    """[n, 48] -> [n, 6] indices of the nearest word of each position."""
    e = embedding()
    pos = np.asarray(x, dtype=np.float64).reshape(-1, EMBED_DIM)
    d2 = ((pos[:, None, :] - e[None, :, :]) ** 2).sum(-1)
    return d2.argmin(1).reshape(-1, LENGTH)


def measure(x, train_ids=None):
    """(grammatical share, share copying a training sentence) of samples x [n, 48]."""
    ids = decode(x)
    train_ids = split("train") if train_ids is None else train_ids
    corpus = {tuple(r) for r in train_ids.tolist()}
    grammatical = float(np.mean([is_grammatical(r) for r in ids]))
    copies = float(np.mean([tuple(r) in corpus for r in ids.tolist()]))
    return grammatical, copies


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "diffusion_lm.vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    np.save(os.path.join(out_dir, "diffusion_lm.embedding.npy"), embedding())
    # float64 integers, as tweedie's read_npy reads them
    np.save(os.path.join(out_dir, "diffusion_lm.train_sentences.npy"), split("train").astype(np.float64))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="models")
    write(p.parse_args().out)


if __name__ == "__main__":
    main()
