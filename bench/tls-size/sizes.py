import subprocess,sys
out=subprocess.run(["readelf","-S","-W","target/riscv32imac-unknown-none-elf/release/picokubelet-tls-size"],capture_output=True,text=True).stdout
tot=0
for l in out.splitlines():
    l=l.replace("[ ","[")
    p=l.split()
    if len(p)>6 and p[1].startswith((".text",".rodata",".srodata",".data",".sdata")):
        n=int(p[5],16); tot+=n; print(p[1],n)
print("flash(text+rodata+data)",tot)
