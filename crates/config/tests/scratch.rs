use yardmaster_config::from_str;

fn show(text: &str) {
    match from_str(text, "g.yaml") {
        Ok(_) => println!("OK"),
        Err(e) => println!("{e}"),
    }
    println!("---");
}

#[test]
fn scratch() {
    show("");
    show("# only a comment\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    bogus: 1\n");
    show("listeners:\n  - bogus: 1\n    name: a\n    listen: 127.0.0.1:80\n");
    show("listeners:\n  - name: a\n");
    show("admin:\n  other: 1\nlisteners:\n  - name: a\n    listen: 127.0.0.1:80\n");
    show("admin: {}\nlisteners:\n  - name: a\n    listen: 127.0.0.1:80\n");
    show("listeners:\n  - name: a\n    listen: 10.0.0.x:80\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\nclusters:\n  - name: c\n    endpoints:\n      - 127.0.0.1:1\n      - 10.0.0.x:80\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\nclusters:\n  - name: c\n    endpoints: [127.0.0.1:1, 10.0.0.x:80]\n    connect_timeout: 10\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\nclusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    connect_timeout: 10\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\nclusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    protocol: http9\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    routes: 5\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    routes:\n      - match: {path: {regex: '[a'}}\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    routes:\n      - deny: {http_status: abc}\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n  name: b\n");
    show("listeners: [\n");
    show("listeners:\n\t- name: a\n");
    show("listeners:\n  - name: a\n    name: b\n");
    show("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    show("a: 1\n---\nb: 2\n");
    show("listeners: []\n");
    show("listeners:\n  - name: a\n    listen: 127.0.0.1:80\n    routes:\n      - {}\n");
}
