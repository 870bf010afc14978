#!/usr/bin/env bash
# Downloads one of the paper's datasets from its official address, checks its MD5 and unpacks
# it under the data root (default: data/) where the trainer looks for it:
#
#   launch/get-data.sh NAME [DATA_ROOT]
#
#   mnist          -> DATA_ROOT/mnist/*-ubyte.gz              (already in the repository)
#   cifar10        -> DATA_ROOT/cifar-10-batches-bin/         (binary version)
#   cifar100       -> DATA_ROOT/cifar-100-binary/             (binary version)
#   svhn           -> DATA_ROOT/svhn/{train,test,extra}_32x32.mat
#   tiny-imagenet  -> DATA_ROOT/tiny-imagenet-200/
#
# Addresses and MD5 sums: the CIFAR page (https://www.cs.toronto.edu/~kriz/cifar.html, table of
# versions), torchvision's dataset sources (torchvision/datasets/mnist.py, svhn.py) and the
# cs231n Tiny ImageNet archive as used by common loaders (md5 90528d7c...). Check a download
# afterwards with `mbc-train inspect-data --config FILE --set data.dataset=NAME`.
set -euo pipefail

usage() {
    echo "usage: $0 NAME [DATA_ROOT]" >&2
    echo "  NAME: mnist, cifar10, cifar100, svhn, tiny-imagenet; DATA_ROOT defaults to data" >&2
}

[ $# -ge 1 ] && [ $# -le 2 ] || { usage; exit 2; }
name=$1
root=${2:-data}

# fetch URL FILE MD5: downloads URL to FILE unless FILE is already there with the right MD5.
fetch() {
    local url=$1 file=$2 md5=$3
    if [ -f "$file" ] && [ "$(md5sum "$file" | cut -d' ' -f1)" = "$md5" ]; then
        echo "$file: present, MD5 ok"
        return
    fi
    echo "downloading $url"
    if command -v curl >/dev/null; then
        curl -fL --retry 3 -o "$file.part" "$url"
    else
        wget -O "$file.part" "$url"
    fi
    local got
    got=$(md5sum "$file.part" | cut -d' ' -f1)
    if [ "$got" != "$md5" ]; then
        rm -f "$file.part"
        echo "error: $url: MD5 $got, expected $md5; the download is damaged or the file changed. Try again." >&2
        exit 1
    fi
    mv "$file.part" "$file"
    echo "$file: MD5 ok"
}

mkdir -p "$root"
case "$name" in
mnist)
    mkdir -p "$root/mnist"
    base=https://ossci-datasets.s3.amazonaws.com/mnist
    fetch $base/train-images-idx3-ubyte.gz "$root/mnist/train-images-idx3-ubyte.gz" f68b3c2dcbeaaa9fbdd348bbdeb94873
    fetch $base/train-labels-idx1-ubyte.gz "$root/mnist/train-labels-idx1-ubyte.gz" d53e105ee54ea40749a09fcbcd1e9432
    fetch $base/t10k-images-idx3-ubyte.gz "$root/mnist/t10k-images-idx3-ubyte.gz" 9fb629c4189551a2d022fa330f9573f3
    fetch $base/t10k-labels-idx1-ubyte.gz "$root/mnist/t10k-labels-idx1-ubyte.gz" ec29112dd5afa0611ce80d1b7f02629c
    ;;
cifar10)
    fetch https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz "$root/cifar-10-binary.tar.gz" c32a1d4ab5d03f1284b67883e8d87530
    tar -xzf "$root/cifar-10-binary.tar.gz" -C "$root"
    ;;
cifar100)
    fetch https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz "$root/cifar-100-binary.tar.gz" 03b5dce01913d631647c71ecec9e9cb8
    tar -xzf "$root/cifar-100-binary.tar.gz" -C "$root"
    ;;
svhn)
    mkdir -p "$root/svhn"
    base=http://ufldl.stanford.edu/housenumbers
    fetch $base/train_32x32.mat "$root/svhn/train_32x32.mat" e26dedcc434d2e4c54c9b2d4a06d8373
    fetch $base/test_32x32.mat "$root/svhn/test_32x32.mat" eb5a983be6a315427106f1b164d9cef3
    fetch $base/extra_32x32.mat "$root/svhn/extra_32x32.mat" a93ce644f1a588dc4d68dda5feec44a7
    ;;
tiny-imagenet)
    fetch http://cs231n.stanford.edu/tiny-imagenet-200.zip "$root/tiny-imagenet-200.zip" 90528d7ca1a48142e341f4ef8d21d0de
    if command -v unzip >/dev/null; then
        unzip -q -o "$root/tiny-imagenet-200.zip" -d "$root"
    else
        python3 -m zipfile -e "$root/tiny-imagenet-200.zip" "$root"
    fi
    ;;
*)
    echo "error: unknown dataset \`$name\`." >&2
    usage
    exit 2
    ;;
esac
echo "$name: ready under $root"
