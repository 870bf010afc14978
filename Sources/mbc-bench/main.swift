print("mbc-bench")
