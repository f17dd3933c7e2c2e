from __future__ import annotations

import os
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.privacy.errors import MerkleProofError
from blindmatch.privacy.merkle import MerkleTree, verify_proof


@settings(max_examples=30, deadline=None)
@given(size=st.integers(min_value=1, max_value=70), data=st.data())
def test_every_slot_has_a_verifying_proof_and_no_other_slot_does(size: int, data: st.DataObject) -> None:
    slots = [os.urandom(32) for _ in range(size)]
    tree = MerkleTree(slots)
    i = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = tree.proof(i)
    verify_proof(tree.root, slots[i], proof)
    with pytest.raises(MerkleProofError):
        verify_proof(tree.root, os.urandom(32), proof)
    if size > 1:
        j = (i + 1) % size
        with pytest.raises(MerkleProofError):  # a slot moved to another index does not verify
            verify_proof(tree.root, slots[i], replace(proof, index=j))


@settings(max_examples=20, deadline=None)
@given(size=st.integers(min_value=1, max_value=40), data=st.data())
def test_incremental_update_equals_rebuild(size: int, data: st.DataObject) -> None:
    slots = [os.urandom(32) for _ in range(size)]
    tree = MerkleTree(slots)
    idx = data.draw(st.lists(st.integers(min_value=0, max_value=size - 1), max_size=5))
    changes = [(i, os.urandom(32)) for i in idx]
    for i, s in changes:
        slots[i] = s
    assert tree.update(changes) == MerkleTree(slots).root


def test_bad_proofs_are_rejected() -> None:
    slots = [os.urandom(32) for _ in range(5)]
    tree = MerkleTree(slots)
    proof = tree.proof(2)
    with pytest.raises(MerkleProofError):
        verify_proof(tree.root, slots[2], replace(proof, siblings=proof.siblings[:-1]))
    with pytest.raises(MerkleProofError):
        tree.proof(5)
    with pytest.raises(MerkleProofError):
        MerkleTree([])
