"""WordPiece: cover a word with the longest vocabulary pieces, left to right, in linear time.

Each word becomes the longest vocabulary entry that starts it, then the longest `##`
continuation of the rest, and so on; a word that cannot be covered, or that is longer than
`max_chars` characters, is `[UNK]` as a whole, as in the original BERT. Usable alone:

    >>> wordpiece = WordPiece(vocab, unk_id=vocab["[UNK]"])
    >>> wordpiece("unaffable")      # (ids, end of each piece in the word)
    ((4895, 10354, 3085), (2, 5, 9))
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_WORD_CHARS = 100  # longer words become [UNK], as in the original BERT


class WordPiece:
    """Greedy longest-match-first WordPiece over a character trie.

    Two tries: one for word-initial pieces ("un") and one for continuations ("##able",
    stored without the "##"). From a position in the word, walking the trie as far as the
    characters allow and remembering the last node that ends a vocabulary entry finds the
    longest matching piece in as many steps as that piece is long (plus at most the longest
    vocabulary entry's length): the word is covered in time linear in its length, with no
    substring built per attempt.
    """

    _END = ""  # key of a trie node's id: "" is never a character

    def __init__(self, vocab: Mapping[str, int], unk_id: int, prefix: str = "##", max_chars: int = MAX_WORD_CHARS):
        self.unk_id, self.prefix, self.max_chars = unk_id, prefix, max_chars
        self.root: dict = {}
        self.continuation_root: dict = {}
        for token, index in vocab.items():
            if token.startswith(prefix) and len(token) > len(prefix):
                node, chars = self.continuation_root, token[len(prefix):]
            else:
                node, chars = self.root, token
            for ch in chars:
                node = node.setdefault(ch, {})
            node[self._END] = index
        # word -> (ids, end of each piece in the word): most words of real text repeat.
        self.cache: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.cache_size = 200_000

    def __call__(self, word: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(ids, piece ends) of one pre-tokenized word; [UNK] for the whole word if it has
        no cover or is longer than max_chars characters."""
        hit = self.cache.get(word)
        if hit is not None:
            return hit
        result = self._split(word)
        # Words longer than max_chars are [UNK] at once, so caching them saves nothing, and
        # leaving them out bounds the cache by characters too, not only by entries.
        if len(word) <= self.max_chars:
            if len(self.cache) >= self.cache_size:
                self.cache.clear()  # crude, but bounded memory and no bookkeeping per hit
            self.cache[word] = result
        return result

    def _split(self, word: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        n = len(word)
        if n > self.max_chars:
            return (self.unk_id,), (n,)
        ids, ends = [], []
        start, root, end_key = 0, self.root, self._END
        while start < n:
            node, best_id, best_end = root, None, start
            i = start
            while i < n:
                node = node.get(word[i])
                if node is None:
                    break
                i += 1
                found = node.get(end_key)
                if found is not None:
                    best_id, best_end = found, i
            if best_id is None:
                return (self.unk_id,), (n,)
            ids.append(best_id)
            ends.append(best_end)
            start, root = best_end, self.continuation_root
        return tuple(ids), tuple(ends)

    def tokenize(self, word: str, tokens: Mapping[int, str]) -> list[str]:
        """The pieces of one word as strings, given the id -> token map of the vocabulary."""
        return [tokens[i] for i in self(word)[0]]


# ---------------------------------------------------------------------------------------
# Back to text
# ---------------------------------------------------------------------------------------


def decode_pieces(tokens: list[str], prefix: str = "##") -> str:
    """The reference's WordPiece decoder: pieces join as "a ##b" -> "ab", other tokens with a
    space, and the space before . ? ! , goes."""
    pieces = []
    for i, token in enumerate(tokens):
        if i and token.startswith(prefix):
            token = token[len(prefix):]
        elif i:
            token = " " + token
        pieces.append(_cleanup_piece(token))
    return "".join(pieces)


def clean_up_tokenization(text: str) -> str:
    """Undo the spaces BERT's splitting leaves in English: before punctuation and in contractions."""
    return (
        text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
        .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
        .replace(" 've", "'ve").replace(" 're", "'re")
    )


def _cleanup_piece(token: str) -> str:
    # The reference's WordPiece decoder cleans each token on its own (with its leading
    # space), so of its rules only the ones for a space before . ? ! , ever apply.
    if len(token) == 2 and token[0] == " " and token[1] in ".?!,":
        return token[1]
    return token
