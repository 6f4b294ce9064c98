"""`python -m bert_tf2.data.memmap`: builds QuickDraw memmaps or checks them for split leaks.

This module is only the documented command's entry point (its flags and help are in
`flags/bert_memmap.py`, console script `sketch-bert-memmap`). The code lives in modules named
after what they hold:

* `bert_tf2.data.memmap_format`: the file layout (`memmap/<cls>_<split>.dat`, `offsets.npz`,
  `memmap_sum.txt`) and its readers;
* `bert_tf2.data.memmap_builder`: `build_memmaps` from sketch-rnn npz files;
* `bert_tf2.data.split_leaks`: `find_split_leaks` (upstream's generator bug B1);
* `bert_tf2.data.sketch_collections`: `MemmapSketches`, `ArraySketches`, the pipeline's readers.
"""

if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.bert_memmap")
