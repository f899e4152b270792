package pulumiprov

// Waiting reports how many callers wait for a tenant's lock (tests order themselves on it).
func Waiting(p *Provisioner, slug string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting[slug]
}
