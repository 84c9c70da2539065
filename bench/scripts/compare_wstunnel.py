#!/usr/bin/env python3
"""One-stream ws:// throughput of two tcpws builds against wstunnel and raw
loopback, in alternating rounds (3 x 1 GiB each), timed until the sink has
counted every byte. A stopgap until tcpws-bench measures peers itself
(issue 13); used for the closing note of issues 11 and 12:

    cargo build --release -p tcpws
    python3 bench/scripts/compare_wstunnel.py target/release/tcpws \
        ../shared/peers/wstunnel OTHER_TCPWS_BINARY

Run it from a scratch directory: it writes the nodes' configs and logs there.
"""
import socket, threading, time, subprocess, json, os, sys, statistics
def free():
    s=socket.socket(); s.bind(('127.0.0.1',0)); p=s.getsockname()[1]; s.close(); return p
S,W,L1,P,L2,P3,L3=free(),free(),free(),free(),free(),free(),free()
def sink():
    ls=socket.socket(); ls.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); ls.bind(('127.0.0.1',S)); ls.listen(16)
    while True:
        c,_=ls.accept()
        def h(c):
            buf=bytearray(4<<20); n=0
            while True:
                k=c.recv_into(buf)
                if not k: break
                n+=k
                if n>=SIZE and not done.is_set():
                    done.t=time.perf_counter(); done.set()
            c.close()
        threading.Thread(target=h,args=(c,),daemon=True).start()
done=threading.Event()
SIZE=1<<30
threading.Thread(target=sink,daemon=True).start()
TCPWS=sys.argv[1]; WST=sys.argv[2]; OLD=sys.argv[3]
[os.makedirs(d,exist_ok=True) for d in ('srv','cli','osrv','ocli')]
log={"level":"WARNING","logToStdout":False}
json.dump({"weAreServer":True,"dataExchange":{"serverUrl":f"http://127.0.0.1:{P}","serverBindAddress":"127.0.0.1"},"logging":log,
  "tcpTunnelConnects":[{"tunnelName":"t","connectToHost":"127.0.0.1","connectToPort":S}]},open('srv/config.json','w'))
json.dump({"weAreServer":False,"clientId":1,"dataExchange":{"serverUrl":f"http://127.0.0.1:{P}"},"logging":log,
  "tcpTunnelListens":[{"tunnelName":"t","listenBindAddress":"127.0.0.1","listenPort":L2}]},open('cli/config.json','w'))
json.dump({"weAreServer":True,"dataExchange":{"serverUrl":f"http://127.0.0.1:{P3}","serverBindAddress":"127.0.0.1"},"logging":log,
  "tcpTunnelConnects":[{"tunnelName":"t","connectToHost":"127.0.0.1","connectToPort":S}]},open('osrv/config.json','w'))
json.dump({"weAreServer":False,"clientId":1,"dataExchange":{"serverUrl":f"http://127.0.0.1:{P3}"},"logging":log,
  "tcpTunnelListens":[{"tunnelName":"t","listenBindAddress":"127.0.0.1","listenPort":L3}]},open('ocli/config.json','w'))
procs=[subprocess.Popen([OLD,'run','osrv/config.json'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL),
       subprocess.Popen([OLD,'run','ocli/config.json'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL),subprocess.Popen([TCPWS,'run','srv/config.json'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL),
       subprocess.Popen([TCPWS,'run','cli/config.json'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL),
       subprocess.Popen([WST,'server',f'ws://127.0.0.1:{W}'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL),
       subprocess.Popen([WST,'client','-L',f'tcp://127.0.0.1:{L1}:127.0.0.1:{S}',f'ws://127.0.0.1:{W}'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)]
def wait(port):
    for _ in range(200):
        try: socket.create_connection(('127.0.0.1',port)).close(); return
        except OSError: time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")
time.sleep(1.5); wait(L1); wait(L2); wait(L3)
chunk=memoryview(bytes(4<<20))
def run(port):
    done.clear()
    s=socket.create_connection(('127.0.0.1',port)); t=time.perf_counter(); sent=0
    while sent<SIZE: s.sendall(chunk); sent+=len(chunk)
    assert done.wait(60),port; el=done.t-t; s.close(); time.sleep(0.3)
    return SIZE/el/1e6
res={'raw':[],'wstunnel':[],'tcpws':[],'tcpws-564aeaf':[]}
try:
    for r in range(3):
        for name,port in (('raw',S),('wstunnel',L1),('tcpws',L2),('tcpws-564aeaf',L3)):
            res[name].append(run(port))
finally:
    for p in procs: p.terminate()
for k,v in res.items(): print(k, ' '.join(f'{x:.0f}' for x in v), 'MB/s, median', f'{statistics.median(v):.0f}')
m={k:statistics.median(v) for k,v in res.items()}
print(f"564aeaf/wstunnel {m['tcpws-564aeaf']/m['wstunnel']:.2f}, tcpws/564aeaf {m['tcpws']/m['tcpws-564aeaf']:.2f}")
print(f"tcpws/wstunnel {m['tcpws']/m['wstunnel']:.2f}, tcpws/raw {m['tcpws']/m['raw']:.2f}, wstunnel/raw {m['wstunnel']/m['raw']:.2f}")
