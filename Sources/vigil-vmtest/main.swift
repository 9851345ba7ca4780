print("vmtest")
