"""Why gene_rank with value bins scores below gene_rank alone: cheap variants, same folds.

Every variant is a ``scell_tokens.py`` row (5-fold CV, run seed 0, same folds) run with one
ensemble member. Variants of the ``gene_rank+values`` transformer:

- ``d16``: ``d_model`` 16 instead of 32 (a smaller model);
- ``value_std``: the value embedding initialised with this standard deviation (the library's
  is ``VALUE_EMBED_STD``, 0.02; it was 1, ``nn.Embedding``'s default and the gene
  embedding's), to see whether value embeddings as large as the gene identity's swamp it;
- ``none``: the row as it is (with ``--pretrain-epochs``: fewer or more pretraining epochs).

    python benchmarks/scell_values_diag.py --variant d16|value_std|none [--value-std S] [--row ROW]
        [--pretrain-epochs N]

Prints one JSON line: the variant, macro F1 and accuracy (mean and sd over folds), seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import scell_tokens  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", choices=["d16", "value_std", "none"], required=True)
    parser.add_argument("--value-std", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--row", choices=[r for r in scell_tokens.ROWS if "values" in r])
    parser.add_argument("--pretrain-epochs", type=int, help="a +pretrain row's pretraining epochs")
    args = parser.parse_args()
    label = args.row or "gene_rank+values"
    if args.pretrain_epochs and "training" in scell_tokens.ROWS[label]:
        scell_tokens.ROWS[label]["training"] = {"pretrain": {"epochs": args.pretrain_epochs}}
    if args.variant == "none":
        pass
    elif args.variant == "d16":
        scell_tokens.ROWS[label]["encoder"] = {**scell_tokens.ROWS[label]["encoder"], "d_model": 16}
    else:
        from biozoo.layers import token_input

        reset = token_input.TokenInput.reset_parameters

        def smaller(self: token_input.TokenInput) -> None:
            reset(self)
            if hasattr(self, "value_embed"):
                with torch.no_grad():
                    nn.init.normal_(self.value_embed.weight, std=args.value_std)
                    self.value_embed.weight[0].zero_()  # padding id embeds to zero

        token_input.TokenInput.reset_parameters = smaller
    row = scell_tokens.run_row(label, args.epochs, ensemble=1)
    keep = {k: v for k, v in row.items() if k != "config"}
    print(json.dumps({"row": label, "variant": args.variant, "value_std": args.value_std, **keep}))


if __name__ == "__main__":
    main()
